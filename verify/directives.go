package verify

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Directives for a product's gqlgen schema, with the shapes gqlgen generates for
//
//	directive @auth on FIELD_DEFINITION
//	directive @hasScope(scope: String!) on FIELD_DEFINITION
//
// wired as Config{Directives: DirectiveRoot{Auth: verify.AuthDirective, HasScope:
// verify.HasScopeDirective}}. They read the principal Middleware put in the context, so the
// GraphQL handler must be behind Middleware. The errors carry authgraph's codes
// (UNAUTHENTICATED, FORBIDDEN, SERVICE_UNAVAILABLE) in extensions.code.

// AuthDirective lets the field resolve only for a request with a principal.
func AuthDirective(ctx context.Context, obj any, next graphql.Resolver) (any, error) {
	if _, ok := FromContext(ctx); !ok {
		return nil, refusal(ctx)
	}
	return next(ctx)
}

// HasScopeDirective lets the field resolve only for a principal holding scope (HasScope); it
// implies AuthDirective.
func HasScopeDirective(ctx context.Context, obj any, next graphql.Resolver, scope string) (any, error) {
	p, ok := FromContext(ctx)
	if !ok {
		return nil, refusal(ctx)
	}
	if !p.HasScope(scope) {
		return nil, &gqlerror.Error{
			Message:    "This operation needs the \"" + scope + "\" scope, which this session does not hold.",
			Extensions: map[string]any{"code": codeForbidden},
		}
	}
	return next(ctx)
}

// refusal is the error of a field that needs a principal the request lacks: an outage when
// that is why (never UNAUTHENTICATED, which makes clients drop their tokens).
func refusal(ctx context.Context) error {
	if err := ErrorFromContext(ctx); errors.Is(err, ErrUnavailable) {
		return &gqlerror.Error{Message: msgUnavailable, Extensions: map[string]any{"code": codeUnavailable}}
	}
	return &gqlerror.Error{Message: msgUnauthenticated, Extensions: map[string]any{"code": codeUnauthenticated}}
}
