// Package scalar adapts authgraph's custom GraphQL scalars to Go values.
package scalar

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/99designs/gqlgen/graphql"

	"github.com/authgraph/authgraph/internal/gid"
)

// ObjectID is the Go side of the ObjectID scalar: gid.ID.
type ObjectID = gid.ID

// MarshalObjectID writes id in its encoded form as a JSON string.
func MarshalObjectID(id gid.ID) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		io.WriteString(w, strconv.Quote(id.String()))
	})
}

// UnmarshalObjectID reads an ObjectID from a query literal or a JSON variable: the encoded
// string form or a bare integer (a JSON number or a string of digits, such as
// `"userKeyId": 130`). Which type it must be is checked by the resolver that uses it.
func UnmarshalObjectID(v any) (gid.ID, error) {
	switch v := v.(type) {
	case string:
		return gid.Decode(v)
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			return gid.ID{}, fmt.Errorf("%w: not an integer", gid.ErrInvalid)
		}
		return gid.FromInt(n)
	case int:
		return gid.FromInt(int64(v))
	case int64:
		return gid.FromInt(v)
	case int32:
		return gid.FromInt(int64(v))
	case float64:
		if v != math.Trunc(v) || v < 1 || v > math.MaxInt64/2 {
			return gid.ID{}, fmt.Errorf("%w: not a positive integer", gid.ErrInvalid)
		}
		return gid.FromInt(int64(v))
	}
	return gid.ID{}, fmt.Errorf("%w: must be a string or an integer", gid.ErrInvalid)
}

// EntityKey is the Go side of an ObjectID in a representation a router sends to _entities:
// the id as UnmarshalObjectID reads it, or why it does not read. It never fails to unmarshal,
// so that the entity resolver, not gqlgen's federation code, decides what a bad key answers
// (null, like any entity the caller cannot see); that code would fail the whole batch with an
// error it gives no cause, which reads as an internal one.
type EntityKey struct {
	ID  gid.ID
	Err error
}

// MarshalEntityKey writes k's id as MarshalObjectID does.
func MarshalEntityKey(k EntityKey) graphql.Marshaler { return MarshalObjectID(k.ID) }

// UnmarshalEntityKey reads v as UnmarshalObjectID does, keeping its refusal in Err.
func UnmarshalEntityKey(v any) (EntityKey, error) {
	id, err := UnmarshalObjectID(v)
	return EntityKey{ID: id, Err: err}, nil
}
