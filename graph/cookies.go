package graph

import (
	"context"
	"time"
)

// CookieKind names the two cookies of COOKIE mode.
type CookieKind int

// Cookie kinds.
const (
	// SessionCookie holds the session token of a plain (not refreshable) session; the HTTP
	// layer authenticates requests with it.
	SessionCookie CookieKind = iota + 1
	// RefreshCookie holds the refresh token of a refreshable session; only refreshSession
	// reads it.
	RefreshCookie
)

// CookieJar is how resolvers use cookies without knowing HTTP: the HTTP layer implements it
// for each request (names, attributes, the CSRF rule) and puts it in the context with
// WithCookieJar. The domain knows nothing of cookies.
type CookieJar interface {
	// Set puts token in the cookie of kind, to last maxAge.
	Set(kind CookieKind, token string, maxAge time.Duration)
	// Clear removes the cookie of kind from the client.
	Clear(kind CookieKind)
	// Get answers the token in the request's cookie of kind, or "" if there is none or the
	// request may not use cookies (see the HTTP layer's CSRF rule).
	Get(kind CookieKind) string
}

type cookieJarKey struct{}

// WithCookieJar returns a context carrying the request's cookie jar.
func WithCookieJar(ctx context.Context, jar CookieJar) context.Context {
	return context.WithValue(ctx, cookieJarKey{}, jar)
}

// cookieJarFrom answers the jar in ctx, or nil when the transport has none.
func cookieJarFrom(ctx context.Context) CookieJar {
	jar, _ := ctx.Value(cookieJarKey{}).(CookieJar)
	return jar
}
