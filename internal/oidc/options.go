package oidc

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Defaults for the options.
const (
	// DefaultHTTPTimeout bounds one request to a provider, so a hung provider costs a sign-in
	// a few seconds instead of a stuck request.
	DefaultHTTPTimeout = 5 * time.Second
	// DefaultClockSkew is how far apart our clock and the provider's may be: a token is
	// accepted up to this long after "exp" and before "nbf"/"iat".
	DefaultClockSkew = 30 * time.Second
	// DefaultMinRefreshInterval is the shortest time between two fetches of an issuer's JWKS.
	// A token with an unknown key ID triggers a refetch (that is how a rotated key is
	// picked up); without a floor, anyone could make us fetch the JWKS on every request by
	// sending made-up key IDs.
	DefaultMinRefreshInterval = 10 * time.Second
)

// Option configures a Verifier.
type Option func(*options)

type options struct {
	now                func() time.Time
	client             *http.Client
	skew               time.Duration
	minRefreshInterval time.Duration
}

func defaultOptions() options {
	return options{
		now:                time.Now,
		client:             newHTTPClient(DefaultHTTPTimeout),
		skew:               DefaultClockSkew,
		minRefreshInterval: DefaultMinRefreshInterval,
	}
}

func (o options) check() error {
	switch {
	case o.now == nil:
		return errors.New("oidc: WithClock: nil clock")
	case o.client == nil:
		return errors.New("oidc: WithHTTPClient: nil client")
	case o.skew < 0:
		return fmt.Errorf("oidc: WithClockSkew: negative skew %v", o.skew)
	case o.minRefreshInterval < 0:
		return fmt.Errorf("oidc: WithMinRefreshInterval: negative interval %v", o.minRefreshInterval)
	}
	return nil
}

// WithClock sets the clock that "exp", "nbf" and "iat" are checked against, and that paces
// JWKS refetches. Tests pass a fake clock's Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithHTTPClient sets the client that fetches discovery documents and JWKS from the network,
// under the floor between fetches. The default has a DefaultHTTPTimeout timeout and refuses
// redirects that leave https. A client given here is used as is: give it a timeout.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithClockSkew sets the tolerated clock difference with the providers (DefaultClockSkew).
func WithClockSkew(d time.Duration) Option { return func(o *options) { o.skew = d } }

// WithMinRefreshInterval sets the shortest time between two fetches of one issuer's JWKS,
// or of its discovery document (DefaultMinRefreshInterval). Zero refetches on every unknown key ID, which tests that
// rotate keys without moving a clock may want.
func WithMinRefreshInterval(d time.Duration) Option {
	return func(o *options) { o.minRefreshInterval = d }
}

// newHTTPClient returns a client with a timeout that follows redirects only to URLs that
// checkURL accepts, so a redirect cannot downgrade a key fetch to plain http.
func newHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if _, err := checkURL(req.URL.String(), true); err != nil {
				return fmt.Errorf("redirect refused: %w", err)
			}
			return nil
		},
	}
}
