package auth

import "context"

type clientKey struct{}

// WithClient returns a context carrying the requesting client's description. The transport
// sets it on every request, so that operations which take no ClientInfo argument (those
// that need a session, such as DisableTOTP) can still count their guesses by the client's
// address.
func WithClient(ctx context.Context, c ClientInfo) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the client description in ctx (zero if none).
func ClientFrom(ctx context.Context) ClientInfo {
	c, _ := ctx.Value(clientKey{}).(ClientInfo)
	return c
}
