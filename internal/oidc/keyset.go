package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
)

// maxKeyAge is how long one go-oidc RemoteKeySet serves before a new one fetches the keys
// again. RemoteKeySet keeps a key for as long as tokens verify with it; a key the provider
// withdraws (rotated out, or compromised) must stop being trusted within the hour even if
// no token ever names an unknown key ID.
const maxKeyAge = time.Hour

// keySet is one issuer's gooidc.KeySet. go-oidc's RemoteKeySet does the work (caching,
// refetching on an unknown key ID, sharing concurrent fetches, verifying); the HTTP clients
// under it are bounded (boundedTransport). keySet adds the rest of authgraph's rules:
//   - the jwks_uri is discovered on the first token, not at start, so the server starts
//     while a provider is down; and rediscovered after a fetch from it failed;
//   - a RemoteKeySet is replaced after maxKeyAge, keeping the old one while the new one's
//     keys cannot be fetched (stale keys still verify while the provider is down);
//   - a fetch that failed is reported to Verify through the context (fetchOutcome), since
//     go-oidc's IDTokenVerifier flattens a key set's error into a string.
type keySet struct {
	issuerURL string
	jwksURL   string // from the configuration; empty: discover it
	discovery *http.Client
	jwks      *http.Client
	now       func() time.Time

	mu     sync.Mutex
	remote *gooidc.RemoteKeySet // nil until keys were first fetched
	born   time.Time            // when remote was made
	renew  bool                 // a fetch from a discovered jwks_uri failed: rediscover
}

func newKeySet(is *issuer, jwksURL string, o options) *keySet {
	return &keySet{
		issuerURL: is.url,
		jwksURL:   jwksURL,
		discovery: newBoundedClient(o, nil),
		jwks:      newBoundedClient(o, signingKeys(is.algs)),
		now:       o.now,
	}
}

// fetchOutcomeKey is the context key of a *fetchOutcome.
type fetchOutcomeKey struct{}

// fetchOutcome is where a keySet records, for one Verify, that the keys could not be had.
type fetchOutcome struct{ err error }

// VerifySignature implements gooidc.KeySet.
func (s *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	s.mu.Lock()
	cur := s.remote
	due := cur == nil || s.renew || s.now().Sub(s.born) >= maxKeyAge
	s.mu.Unlock()

	if due {
		next, err := s.newRemote(ctx)
		if err == nil {
			payload, verr := next.VerifySignature(ctx, jwt)
			if !fetchFailed(verr) {
				s.mu.Lock()
				s.remote, s.born, s.renew = next, s.now(), false
				s.mu.Unlock()
				return payload, verr
			}
			err = verr
		}
		if cur == nil {
			return nil, s.unavailable(ctx, err)
		}
		// New keys cannot be had: the ones held still serve. A token they do not verify
		// makes cur refetch, which the bounded transport answers with the same failure.
	}
	payload, err := cur.VerifySignature(ctx, jwt)
	if fetchFailed(err) {
		if s.jwksURL == "" {
			s.mu.Lock()
			s.renew = true // the provider may have moved its JWKS
			s.mu.Unlock()
		}
		return nil, s.unavailable(ctx, err)
	}
	return payload, err
}

// newRemote makes a RemoteKeySet for the configured or discovered jwks_uri. go-oidc's
// discovery checks that the document names this issuer (OpenID Connect Discovery 1.0, §4.3):
// otherwise keys from one provider could be trusted for another's tokens.
func (s *keySet) newRemote(ctx context.Context) (*gooidc.RemoteKeySet, error) {
	jwksURL := s.jwksURL
	if jwksURL == "" {
		p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, s.discovery), s.issuerURL)
		if err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
		var doc struct {
			JWKSURL string `json:"jwks_uri"`
		}
		if err := p.Claims(&doc); err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
		if _, err := checkURL(doc.JWKSURL, true); err != nil {
			return nil, fmt.Errorf("discovery: jwks_uri: %w", err)
		}
		jwksURL = doc.JWKSURL
	}
	// The key set keeps this context for its whole life (for its client only): a request's
	// would keep that request's values alive.
	return gooidc.NewRemoteKeySet(gooidc.ClientContext(context.Background(), s.jwks), jwksURL), nil
}

// fetchFailed reports whether err, from RemoteKeySet.VerifySignature, means that the keys
// could not be fetched (the transport's *fetchError, or the caller's context ending while it
// waited) rather than that no key verified the token.
func fetchFailed(err error) bool {
	var fe *fetchError
	return errors.As(err, &fe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// unavailable wraps err with ErrUnavailable and records it in ctx's fetchOutcome.
func (s *keySet) unavailable(ctx context.Context, err error) error {
	err = unavailable(fmt.Sprintf("issuer %q", s.issuerURL), err)
	if out, ok := ctx.Value(fetchOutcomeKey{}).(*fetchOutcome); ok {
		out.err = err
	}
	return err
}
