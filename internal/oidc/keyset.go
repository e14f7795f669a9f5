package oidc

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	// maxKeyAge is how long fetched keys are used before the next lookup refetches them, so
	// that a key the provider withdraws (rotated out, or compromised) stops being trusted
	// within the hour even if no token ever names an unknown key ID.
	maxKeyAge = time.Hour
	// refreshTimeout bounds one refresh (discovery plus JWKS) even with a caller's client
	// that has no timeout, so that a hung provider cannot hold the in-flight refresh, and
	// every request waiting on it, forever.
	refreshTimeout = 2 * DefaultHTTPTimeout
)

// keySet is one issuer's signing keys, fetched from its JWKS on first use and cached. It
// follows go-oidc's RemoteKeySet: a token whose key ID is not cached triggers a refetch, which
// is how a rotated key is picked up without a restart; concurrent refetches share one request.
// Unlike RemoteKeySet it also refetches keys older than maxKeyAge, and never fetches more
// often than once per minInterval, so made-up key IDs cannot turn each request into a
// request to the provider.
type keySet struct {
	issuerURL   string
	client      *http.Client
	now         func() time.Time
	minInterval time.Duration

	mu          sync.Mutex
	jwksURL     string // configured, or discovered (and forgotten when a fetch from it fails)
	configured  bool   // jwksURL came from the configuration: never rediscover
	keys        []jose.JSONWebKey
	fetchedAt   time.Time // of keys; zero until a fetch succeeds
	lastAttempt time.Time // start of the last fetch, successful or not
	lastErr     error     // of the last fetch; wraps ErrUnavailable
	inflight    chan struct{}
}

func newKeySet(issuerURL, jwksURL string, o options) *keySet {
	return &keySet{
		issuerURL:   issuerURL,
		jwksURL:     jwksURL,
		configured:  jwksURL != "",
		client:      o.client,
		now:         o.now,
		minInterval: o.minRefreshInterval,
	}
}

// lookup returns the keys that may have signed a token with key ID kid (every key when kid is
// empty). When none is cached, or the cache is older than maxKeyAge, it refreshes first. It
// returns no keys and no error for a key ID the provider does not publish, and an error
// wrapping ErrUnavailable when no key matched because the keys could not be fetched.
func (s *keySet) lookup(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	s.mu.Lock()
	cached := matchKID(s.keys, kid)
	fresh := !s.fetchedAt.IsZero() && s.now().Sub(s.fetchedAt) < maxKeyAge
	s.mu.Unlock()
	if fresh && len(cached) > 0 {
		return cached, nil
	}
	keys, err := s.refresh(ctx)
	if m := matchKID(keys, kid); len(m) > 0 {
		return m, nil // possibly stale keys when the refetch failed: better than refusing all
	}
	return nil, err
}

// refresh refetches the JWKS, or joins the refetch in flight, unless the last one started
// less than minInterval ago. It returns the keys then held and the last fetch's error.
func (s *keySet) refresh(ctx context.Context) ([]jose.JSONWebKey, error) {
	s.mu.Lock()
	if s.inflight == nil {
		now := s.now()
		if !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < s.minInterval {
			keys, err := s.keys, s.lastErr
			s.mu.Unlock()
			return keys, err
		}
		s.lastAttempt = now
		s.inflight = make(chan struct{})
		// The fetch outlives a caller that gives up: others may be waiting on it.
		go s.fetch(context.WithoutCancel(ctx), s.inflight)
	}
	done := s.inflight
	s.mu.Unlock()

	select {
	case <-done:
	case <-ctx.Done():
		return nil, unavailable("waiting for the JWKS of "+s.issuerURL, ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys, s.lastErr
}

// fetch downloads the keys, records the outcome and closes done.
func (s *keySet) fetch(ctx context.Context, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()

	s.mu.Lock()
	jwksURL := s.jwksURL
	s.mu.Unlock()

	var keys []jose.JSONWebKey
	var err error
	if jwksURL == "" {
		jwksURL, err = discover(ctx, s.client, s.issuerURL)
	}
	if err == nil {
		keys, err = fetchJWKS(ctx, s.client, jwksURL)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.lastErr = unavailable(fmt.Sprintf("issuer %q", s.issuerURL), err)
		if !s.configured {
			s.jwksURL = "" // the provider may have moved its JWKS: rediscover next time
		}
	} else {
		s.keys, s.fetchedAt, s.lastErr, s.jwksURL = keys, s.now(), nil, jwksURL
	}
	s.inflight = nil
	close(done)
}

// matchKID returns the keys with key ID kid, or all of them when kid is empty (a provider
// with a single key may leave "kid" out).
func matchKID(keys []jose.JSONWebKey, kid string) []jose.JSONWebKey {
	if kid == "" {
		return keys
	}
	var out []jose.JSONWebKey
	for _, k := range keys {
		if k.KeyID == kid {
			out = append(out, k)
		}
	}
	return out
}
