package auth

import "context"

type clientKey struct{}

// WithClient returns a context carrying the requesting client's description. The transport
// sets it once on every request (internal/httpapi), and ClientFrom is the one way to read
// it, for the resolvers and the domain alike: operations which take no ClientInfo argument
// (those that need a session, such as DisableTOTP) count their guesses by its address.
func WithClient(ctx context.Context, c ClientInfo) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the client description in ctx (zero if none).
func ClientFrom(ctx context.Context) ClientInfo {
	c, _ := ctx.Value(clientKey{}).(ClientInfo)
	return c
}
