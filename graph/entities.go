package graph

import (
	"context"
	"errors"

	"github.com/authgraph/authgraph/graph/scalar"
	"github.com/authgraph/authgraph/internal/auth"
)

// EntityKeyInput is what a router sends _entities for a User or an Account: the key.
// A key that is not an ObjectID is kept with its error (scalar.EntityKey), and answers null.
type EntityKeyInput struct {
	ID scalar.EntityKey
}

// entities resolves one type's share of a router's _entities batch: the ids of reps in one
// call of read, a batch read of the service, and the answers laid out in the order of reps.
//
// _entities is public in the schema (a router must be able to call it), so this is its
// guard, and it answers what a refusal would not tell: null for every representation the
// caller may not see, whatever the reason. Without a session, or with one that lacks the
// read scope (what @hasScope(scope: "read") would refuse), every entity is null and the store
// is not read; with one, read applies the rule of user(id:) (yourself, or anyone as an admin
// whose session holds the admin scope; for accounts: your own, or any as such an admin), and
// what it leaves out is a null here. A key that is malformed or of another type is null too.
// A store failure is the batch's error, as it would be for the single read.
func entities[V any](ctx context.Context, reps []*EntityKeyInput, typ string,
	read func(context.Context, []int64) (map[int64]*V, error),
) ([]*V, error) {
	out := make([]*V, len(reps))
	// A service key's request (p.Service) resolves no entity: the rules above are a person's.
	if p := auth.PrincipalFrom(ctx); p == nil || p.Service != nil || !p.HasScope(auth.ScopeRead) {
		return out, nil
	}
	ids := make([]int64, len(reps))
	var want []int64
	for i, rep := range reps {
		if rep == nil || rep.ID.Err != nil {
			continue
		}
		if n, err := rep.ID.ID.As(typ); err == nil {
			ids[i] = n
			want = append(want, n)
		}
	}
	if len(want) == 0 {
		return out, nil
	}
	found, err := read(ctx, want)
	if err != nil {
		var ae *auth.Error
		if errors.As(err, &ae) && (ae.Code == auth.CodeNotFound || ae.Code == auth.CodeForbidden || ae.Code == auth.CodeUnauthenticated) {
			return out, nil
		}
		return nil, err
	}
	for i, n := range ids {
		if n != 0 {
			out[i] = found[n]
		}
	}
	return out, nil
}
