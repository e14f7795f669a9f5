package auth

import "context"

// Principal is who is making a request: the session's user and the session itself.
type Principal struct {
	User    *User
	Session *Session
	// Token is the session token the request sent. It is kept only so that deleteSession
	// can echo the token it ended; never log it.
	Token string
}

type principalKey struct{}

// WithPrincipal returns a context that carries p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal in ctx, or nil for an anonymous request.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// requirePrincipal answers the principal in ctx or an UNAUTHENTICATED error.
func requirePrincipal(ctx context.Context) (*Principal, error) {
	if p := PrincipalFrom(ctx); p != nil {
		return p, nil
	}
	return nil, &Error{Code: CodeUnauthenticated, Message: MsgUnauthenticated}
}
