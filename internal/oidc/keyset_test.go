package oidc_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/oidc"
	"github.com/authgraph/authgraph/internal/oidc/oidctest"
)

func TestKeyRotation(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	verify := func(tok string) error { _, err := f.v.Verify(ctx, tok); return err }
	wantFetches := func(n int) {
		t.Helper()
		if got := f.p.JWKSFetches(); got != n {
			t.Fatalf("JWKS fetched %d times, want %d", got, n)
		}
	}

	old := f.p.Sign(t, f.claims("alice-sub", nil))
	if err := verify(old); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	if err := verify(old); err != nil {
		t.Fatalf("again: %v", err)
	}
	wantFetches(1) // cached

	f.p.Rotate(t)
	rotatedRSA := f.p.Sign(t, f.claims("alice-sub", nil))
	rotatedEC := f.p.SignES256(t, f.claims("alice-sub", nil))

	// Within the minimum refresh interval of the first fetch, the unknown kid is not fetched.
	requireRejected(t, verify(rotatedRSA), rotatedRSA, false)
	wantFetches(1)

	f.clock.Advance(oidc.DefaultMinRefreshInterval)
	if _, err := verifyAfterFetch(f.v, rotatedRSA, nil); err != nil {
		t.Fatalf("new RSA key after rotation: %v", err)
	}
	if err := verify(rotatedEC); err != nil {
		t.Fatalf("new EC key after rotation: %v", err)
	}
	wantFetches(2)

	// The old key left the JWKS and so left the cache (once go-oidc has stored the new keys:
	// see verifyAfterFetch).
	_, err := verifyAfterFetch(f.v, old, oidc.ErrInvalidToken)
	requireRejected(t, err, old, false)
	wantFetches(2)

	// Keys are refetched once they are an hour old, so a withdrawn key stops being trusted
	// even if no token names an unknown kid.
	f.clock.Advance(time.Hour)
	if err := verify(f.p.Sign(t, f.claims("alice-sub", nil))); err != nil {
		t.Fatalf("after an hour: %v", err)
	}
	wantFetches(3)
}

func TestKeyRotationWithoutRefreshFloor(t *testing.T) {
	f := newFixture(t, nil, oidc.WithMinRefreshInterval(0))
	ctx := context.Background()
	if _, err := f.v.Verify(ctx, f.p.Sign(t, f.claims("alice-sub", nil))); err != nil {
		t.Fatal(err)
	}
	f.p.Rotate(t)
	if _, err := verifyAfterFetch(f.v, f.p.Sign(t, f.claims("alice-sub", nil)), nil); err != nil {
		t.Fatalf("right after rotation: %v", err)
	}
}

// TestUnknownKIDsDoNotHammerTheProvider: made-up key IDs cost at most one fetch per interval.
func TestUnknownKIDsDoNotHammerTheProvider(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	rogue := newRSAKey(t)
	for i := range 20 {
		tok := oidctest.SignWith(t, jose.RS256, rogue, fmt.Sprintf("made-up-%d", i), f.claims("alice-sub", nil))
		_, err := f.v.Verify(ctx, tok)
		requireRejected(t, err, tok, false)
	}
	if got := f.p.JWKSFetches(); got != 1 {
		t.Errorf("JWKS fetched %d times for 20 unknown kids, want 1", got)
	}
}

func TestConcurrentFirstUseFetchesOnce(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.p.Sign(t, f.claims("alice-sub", nil))
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			_, err := f.v.Verify(context.Background(), tok)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := f.p.JWKSFetches(); got != 1 {
		t.Errorf("JWKS fetched %d times, want 1", got)
	}
}

// TestTokenWithoutKID: a provider that omits "kid" is served by trying its keys, and its
// rotation is picked up by refetching when no cached key verifies.
func TestTokenWithoutKID(t *testing.T) {
	now := t0
	key := newRSAKey(t)
	s := newStubProvider(t, jose.JSONWebKey{Key: key.Public(), Use: "sig"})
	v := newVerifier(t, []oidc.Issuer{s.issuerConfig("sub")}, oidc.WithClock(func() time.Time { return now }), oidc.WithMinRefreshInterval(0))
	ctx := context.Background()
	if _, err := v.Verify(ctx, oidctest.SignWith(t, jose.RS256, key, "", s.claims("sub"))); err != nil {
		t.Fatalf("no kid: %v", err)
	}
	next := newRSAKey(t)
	s.setKeys(jose.JSONWebKey{Key: next.Public(), Use: "sig"})
	if _, err := verifyAfterFetch(v, oidctest.SignWith(t, jose.RS256, next, "", s.claims("sub")), nil); err != nil {
		t.Fatalf("no kid after rotation: %v", err)
	}
	if got := s.fetches(); got != 2 {
		t.Errorf("JWKS fetched %d times, want 2", got)
	}
}

func TestConfiguredJWKSURLSkipsDiscovery(t *testing.T) {
	p := oidctest.NewProvider(t)
	iss := p.Issuer("sub")
	iss.JWKSURL = p.JWKSURL
	iss.URL = "https://issuer.example/" // discovery there would fail: no network
	v := newVerifier(t, []oidc.Issuer{iss})
	c := p.Claims("sub")
	c["iss"] = iss.URL
	if _, err := v.Verify(context.Background(), p.Sign(t, c)); err != nil {
		t.Fatal(err)
	}
}

// TestProviderUnavailable: whatever keeps the keys from us answers ErrUnavailable, whether
// the jwks_uri is discovered or configured.
func TestProviderUnavailable(t *testing.T) {
	key := newRSAKey(t)
	sign := func(s *stubProvider) string { return oidctest.SignWith(t, jose.RS256, key, "k1", s.claims("sub")) }
	good := jose.JSONWebKey{Key: key.Public(), KeyID: "k1", Use: "sig"}
	slow := func(s *stubProvider) {
		release := make(chan struct{})
		s.release = append(s.release, release)
		s.setJWKS(func(w http.ResponseWriter) { <-release })
	}
	tests := []struct {
		name          string
		setup         func(s *stubProvider)
		discoveryOnly bool
	}{
		{"JWKS answers 503", func(s *stubProvider) {
			s.setJWKS(func(w http.ResponseWriter) { http.Error(w, "maintenance", http.StatusServiceUnavailable) })
		}, false},
		{"JWKS is gone (404)", func(s *stubProvider) {
			s.setJWKS(func(w http.ResponseWriter) { http.Error(w, "not found", http.StatusNotFound) })
		}, false},
		{"JWKS answers slower than the client's timeout", slow, false},
		{"JWKS key set is not a JSON object", func(s *stubProvider) {
			s.setJWKS(func(w http.ResponseWriter) { _, _ = w.Write([]byte(`["keys"]`)) })
		}, false},
		{"discovery answers 503", func(s *stubProvider) {
			s.mu.Lock()
			s.discoveryDown = true
			s.mu.Unlock()
		}, true},
		{"JWKS answers 500", func(s *stubProvider) {
			s.setJWKS(func(w http.ResponseWriter) { http.Error(w, "boom", http.StatusInternalServerError) })
		}, false},
		{"JWKS is not JSON", func(s *stubProvider) {
			s.setJWKS(func(w http.ResponseWriter) { _, _ = w.Write([]byte("<html>maintenance</html>")) })
		}, false},
		{"JWKS has no usable key", func(s *stubProvider) { s.setKeys() }, false},
		{"JWKS too large", func(s *stubProvider) {
			s.setJWKS(func(w http.ResponseWriter) {
				_, _ = w.Write([]byte(`{"keys":[],"pad":"`))
				for range 1100 {
					_, _ = w.Write(make([]byte, 1024))
				}
			})
		}, false},
		{"discovery names another issuer", func(s *stubProvider) {
			s.mu.Lock()
			s.issuer = "https://elsewhere.example/"
			s.mu.Unlock()
		}, true},
		{"server down", func(s *stubProvider) { s.srv.Close() }, false},
	}
	for _, tt := range tests {
		for _, configured := range []bool{false, true} {
			if configured && tt.discoveryOnly {
				continue
			}
			name := tt.name + map[bool]string{false: ", discovered", true: ", configured jwks_url"}[configured]
			t.Run(name, func(t *testing.T) {
				s := newStubProvider(t, good)
				iss := s.issuerConfig("sub")
				if configured {
					iss.JWKSURL = s.URL + "/jwks"
				}
				tt.setup(s)
				client := &http.Client{Timeout: 300 * time.Millisecond}
				v := newVerifier(t, []oidc.Issuer{iss}, oidc.WithClock(func() time.Time { return t0 }), oidc.WithHTTPClient(client))
				tok := sign(s)
				start := time.Now()
				_, err := v.Verify(context.Background(), tok)
				requireUnavailable(t, err, tok)
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("Verify took %v", d)
				}
				t.Logf("unavailable: %v", err)
			})
		}
	}
}

// TestFailureIsReplayedWithinTheInterval: after a failed fetch, tokens needing new keys get
// ErrUnavailable without asking the provider again until the interval has passed, while
// tokens of cached keys keep verifying; then the provider is asked again and recovers.
func TestFailureIsReplayedWithinTheInterval(t *testing.T) {
	clk := clock.NewFake(t0)
	k1, k2 := newRSAKey(t), newRSAKey(t)
	s := newStubProvider(t, jose.JSONWebKey{Key: k1.Public(), KeyID: "k1", Use: "sig"})
	v := newVerifier(t, []oidc.Issuer{s.issuerConfig("sub")}, oidc.WithClock(clk.Now))
	ctx := context.Background()
	old := oidctest.SignWith(t, jose.RS256, k1, "k1", s.claims("sub"))
	rotated := oidctest.SignWith(t, jose.RS256, k2, "k2", s.claims("sub"))
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}

	s.setJWKS(func(w http.ResponseWriter) { http.Error(w, "boom", http.StatusBadGateway) })
	clk.Advance(oidc.DefaultMinRefreshInterval)
	_, err := verifyAfterFetch(v, rotated, oidc.ErrUnavailable)
	requireUnavailable(t, err, rotated)
	for range 5 {
		_, err := v.Verify(ctx, rotated)
		requireUnavailable(t, err, rotated)
	}
	if got := s.fetches(); got != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (the failure replayed within the interval)", got)
	}
	if _, err := v.Verify(ctx, old); err != nil {
		t.Errorf("a cached key while the provider fails: %v", err)
	}

	s.setKeys(jose.JSONWebKey{Key: k2.Public(), KeyID: "k2", Use: "sig"})
	_, err = v.Verify(ctx, rotated)
	requireUnavailable(t, err, rotated) // still within the interval of the failure
	clk.Advance(oidc.DefaultMinRefreshInterval)
	if _, err := verifyAfterFetch(v, rotated, nil); err != nil {
		t.Fatalf("provider back: %v", err)
	}
	if got := s.fetches(); got != 3 {
		t.Errorf("JWKS fetched %d times, want 3", got)
	}
}

// TestConcurrentUnknownKIDsFetchOnce: a burst of made-up key IDs at once costs one fetch.
func TestConcurrentUnknownKIDsFetchOnce(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.v.Verify(context.Background(), f.p.Sign(t, f.claims("alice-sub", nil))); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(oidc.DefaultMinRefreshInterval)
	rogue := newRSAKey(t)
	var wg sync.WaitGroup
	for i := range 64 {
		tok := oidctest.SignWith(t, jose.RS256, rogue, fmt.Sprintf("made-up-%d", i), f.claims("alice-sub", nil))
		wg.Go(func() {
			_, err := f.v.Verify(context.Background(), tok)
			requireRejected(t, err, tok, false)
		})
	}
	wg.Wait()
	// One for the burst; none if it all came while go-oidc still handed out the first
	// fetch's result (see verifyAfterFetch).
	if got := f.p.JWKSFetches(); got > 2 {
		t.Errorf("JWKS fetched %d times, want at most 2 (one for the burst)", got)
	}
}

// TestDiscoveredJWKSMoves: when a fetch from the discovered jwks_uri fails, the next token
// past the interval rediscovers it.
func TestDiscoveredJWKSMoves(t *testing.T) {
	clk := clock.NewFake(t0)
	k1, k2 := newRSAKey(t), newRSAKey(t)
	s := newStubProvider(t, jose.JSONWebKey{Key: k1.Public(), KeyID: "k1", Use: "sig"})
	v := newVerifier(t, []oidc.Issuer{s.issuerConfig("sub")}, oidc.WithClock(clk.Now))
	ctx := context.Background()
	if _, err := v.Verify(ctx, oidctest.SignWith(t, jose.RS256, k1, "k1", s.claims("sub"))); err != nil {
		t.Fatal(err)
	}
	s.moveJWKS("/moved-jwks")
	s.setKeys(jose.JSONWebKey{Key: k2.Public(), KeyID: "k2", Use: "sig"})
	tok := oidctest.SignWith(t, jose.RS256, k2, "k2", s.claims("sub"))
	clk.Advance(oidc.DefaultMinRefreshInterval)
	_, err := verifyAfterFetch(v, tok, oidc.ErrUnavailable)
	requireUnavailable(t, err, tok) // the old jwks_uri answers 404
	clk.Advance(oidc.DefaultMinRefreshInterval)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("after rediscovery: %v", err)
	}
	if got := s.discoveries(); got != 2 {
		t.Errorf("discovery fetched %d times, want 2", got)
	}
}

// TestProviderDownAfterKeysCached: cached keys keep verifying while the provider is down;
// a token needing a fetch gets ErrUnavailable, not a rejection.
func TestProviderDownAfterKeysCached(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if _, err := f.v.Verify(ctx, f.p.Sign(t, f.claims("alice-sub", nil))); err != nil {
		t.Fatal(err)
	}
	f.p.Rotate(t)
	rotated := f.p.Sign(t, f.claims("alice-sub", nil))
	f.p.Close()
	f.clock.Advance(oidc.DefaultMinRefreshInterval)
	_, err := verifyAfterFetch(f.v, rotated, oidc.ErrUnavailable)
	requireUnavailable(t, err, rotated)

	// Past the hour, the stale keys still serve while the refetch fails.
	f2 := newFixture(t, nil)
	tok := f2.p.Sign(t, f2.claims("alice-sub", nil))
	if _, err := f2.v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	f2.p.Close()
	f2.clock.Advance(2 * time.Hour)
	tok = f2.p.Sign(t, f2.claims("alice-sub", nil))
	if _, err := f2.v.Verify(ctx, tok); err != nil {
		t.Fatalf("stale keys while the provider is down: %v", err)
	}
}

// TestCallerGivesUpOnHungProvider: a caller's deadline ends its wait for a hung provider.
func TestCallerGivesUpOnHungProvider(t *testing.T) {
	s := newStubProvider(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	s.setJWKS(func(w http.ResponseWriter) { <-release })
	v := newVerifier(t, []oidc.Issuer{s.issuerConfig("sub")}, oidc.WithClock(func() time.Time { return t0 }))
	tok := oidctest.SignWith(t, jose.RS256, newRSAKey(t), "k1", s.claims("sub"))

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := v.Verify(ctx, tok)
	requireUnavailable(t, err, tok)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Verify took %v after its deadline", d)
	}
}
