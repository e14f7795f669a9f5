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
