package auth

import "context"

type clientKey struct{}

// WithClient returns a context carrying the requesting client's description. The transport
// puts it there once per request (internal/httpapi), and the context is the only way it
// reaches the domain: no operation takes a ClientInfo argument. Each entry point that needs
// it (the sign-ins and Refresh, which record it on the session they make and count their
// attempts by its address; DisableTOTP and the password checks, which count guesses by that
// address) reads it with ClientFrom, so a caller cannot hand one operation a different
// client than the request's. A caller outside HTTP (a test, a command) sets it here too; a
// context without one reads as the zero ClientInfo.
func WithClient(ctx context.Context, c ClientInfo) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the client description in ctx (zero if none).
func ClientFrom(ctx context.Context) ClientInfo {
	c, _ := ctx.Value(clientKey{}).(ClientInfo)
	return c
}
