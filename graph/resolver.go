package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/authgraph/authgraph/internal/auth"
)

// Resolver holds what the resolvers need. They translate GraphQL to calls of the domain
// service and back; every rule lives in the service.
type Resolver struct {
	Service *auth.Service
	Version string
}

// Directives returns the schema directives' implementations. They make the schema show who
// may call what; the service checks again, so a missing directive cannot open a hole.
func Directives() DirectiveRoot {
	return DirectiveRoot{
		Auth: func(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
			if auth.PrincipalFrom(ctx) == nil {
				return nil, &auth.Error{Code: auth.CodeUnauthenticated, Message: auth.MsgUnauthenticated}
			}
			return next(ctx)
		},
		HasRole: func(ctx context.Context, _ any, next graphql.Resolver, role auth.Role, serviceKeys bool) (any, error) {
			p := auth.PrincipalFrom(ctx)
			if p == nil {
				return nil, &auth.Error{Code: auth.CodeUnauthenticated, Message: auth.MsgUnauthenticated}
			}
			if p.User == nil {
				// A service key's request: a machine has no role (serviceaccounts.go). A field
				// the schema opens to service keys lets the service decide, which confines the
				// key to its own account and to the right the operation opens.
				if serviceKeys {
					return next(ctx)
				}
				return nil, auth.Errorf(auth.CodeForbidden, "This operation needs the %s role; a service key has none.", role)
			}
			if !p.User.Role.AtLeast(role) {
				return nil, auth.Errorf(auth.CodeForbidden, "This operation needs the %s role.", role)
			}
			return next(ctx)
		},
		HasScope: func(ctx context.Context, _ any, next graphql.Resolver, scope string) (any, error) {
			p := auth.PrincipalFrom(ctx)
			if p == nil {
				return nil, &auth.Error{Code: auth.CodeUnauthenticated, Message: auth.MsgUnauthenticated}
			}
			if !p.HasScope(auth.Scope(scope)) {
				return nil, auth.Errorf(auth.CodeForbidden, "This operation needs the %q scope, which this session does not hold.", scope)
			}
			return next(ctx)
		},
	}
}
