package auth

import "context"

// Principal is who is making a request: the session's user and the session itself, or, for a
// request authenticated by a service key (x-api-key), the machine (Service, ServiceKey) with
// neither user nor session (see serviceaccounts.go).
type Principal struct {
	User    *User
	Session *Session
	// Token is the session token the request sent. It is kept only so that deleteSession
	// can echo the token it ended; never log it.
	Token string
	// Service is set, and User and Session nil, for a service key's request.
	Service *ServiceCaller
	// ServiceKey is the key that authenticated it (its limits are the HTTP layer's to apply).
	ServiceKey *ServiceKey
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

// requirePrincipal answers the principal in ctx or an UNAUTHENTICATED error. It answers only
// a person's: a service key's request is FORBIDDEN here, so that every operation written for
// people (which reads p.User and p.Session) stays closed to machines unless it opens itself
// with requireCaller.
func requirePrincipal(ctx context.Context) (*Principal, error) {
	if p := PrincipalFrom(ctx); p != nil {
		if p.User == nil || p.Session == nil {
			return nil, errNeedsPerson()
		}
		return p, nil
	}
	return nil, &Error{Code: CodeUnauthenticated, Message: MsgUnauthenticated}
}
