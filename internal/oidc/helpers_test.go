package oidc_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/oidc"
	"github.com/authgraph/authgraph/internal/oidc/oidctest"
)

// t0 is the fake clock's start; tokens are stamped relative to it.
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// fixture is a provider, a fake clock and a verifier trusting the provider with:
// subject "alice-sub" (username "alice"), subject "bare-sub" (no mapping),
// emails "Carol@Example.com" and "kim@example.com" (no mapping) and "dave@example.com"
// (username "dave").
type fixture struct {
	p     *oidctest.Provider
	clock *clock.Fake
	v     *oidc.Verifier
}

func newFixture(t *testing.T, edit func(*oidc.Issuer), opts ...oidc.Option) *fixture {
	t.Helper()
	f := &fixture{p: oidctest.NewProvider(t), clock: clock.NewFake(t0)}
	f.p.Now = f.clock.Now
	iss := f.p.Issuer("alice-sub", "bare-sub")
	iss.AllowedEmails = []string{"Carol@Example.com", "kim@example.com", "dave@example.com"}
	iss.Users = map[string]string{"alice-sub": "alice", "dave@example.com": "dave"}
	if edit != nil {
		edit(&iss)
	}
	f.v = newVerifier(t, []oidc.Issuer{iss}, append([]oidc.Option{oidc.WithClock(f.clock.Now)}, opts...)...)
	return f
}

func newVerifier(t *testing.T, issuers []oidc.Issuer, opts ...oidc.Option) *oidc.Verifier {
	t.Helper()
	v, err := oidc.New(context.Background(), issuers, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

// claims returns the provider's valid claims for sub, edited by set (nil values delete).
func (f *fixture) claims(sub string, set map[string]any) map[string]any {
	c := f.p.Claims(sub)
	for k, v := range set {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// requireRejected checks that err is a rejection (not an outage) of the right class, and
// that its message does not leak the token.
func requireRejected(t *testing.T, err error, token string, notAllowed bool) {
	t.Helper()
	if err == nil {
		t.Fatal("token accepted, want rejected")
	}
	if !errors.Is(err, oidc.ErrInvalidToken) {
		t.Errorf("error %q does not match ErrInvalidToken", err)
	}
	if errors.Is(err, oidc.ErrUnavailable) {
		t.Errorf("error %q matches ErrUnavailable", err)
	}
	if got := errors.Is(err, oidc.ErrNotAllowed); got != notAllowed {
		t.Errorf("errors.Is(%q, ErrNotAllowed) = %v, want %v", err, got, notAllowed)
	}
	requireNoLeak(t, err, token)
}

func requireUnavailable(t *testing.T, err error, token string) {
	t.Helper()
	if !errors.Is(err, oidc.ErrUnavailable) {
		t.Fatalf("error %v does not match ErrUnavailable", err)
	}
	if errors.Is(err, oidc.ErrInvalidToken) {
		t.Errorf("error %q matches ErrInvalidToken: callers would answer bad credentials", err)
	}
	requireNoLeak(t, err, token)
}

// requireNoLeak fails if the message holds the token or any long segment of it.
func requireNoLeak(t *testing.T, err error, token string) {
	t.Helper()
	msg := err.Error()
	if len(token) >= 16 && strings.Contains(msg, token) {
		t.Errorf("error message contains the token: %q", msg)
	}
	for _, seg := range strings.Split(token, ".") {
		if len(seg) >= 16 && strings.Contains(msg, seg) {
			t.Errorf("error message contains a token segment: %q", msg)
		}
	}
}

// verifyAfterFetch is Verify for a token whose outcome depends on a fetch that just ended, or
// on one that must follow it; want is the outcome the test expects: nil, or an error class.
// go-oidc's RemoteKeySet stores a fetch's keys and clears its in-flight marker a moment
// after handing out the result: a call in that moment still sees the keys held before, or
// is handed that result again. Right in real time (either is a moment old), but the tests'
// fake clock may just have jumped past the interval. So the tests try again for a while,
// rather than sleep for a guessed time; the fetch counts they check are the same either
// way, as a call handed an old result fetches nothing.
func verifyAfterFetch(v *oidc.Verifier, tok string, want error) (*oidc.Identity, error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		id, err := v.Verify(context.Background(), tok)
		if (want == nil && err == nil) || (want != nil && errors.Is(err, want)) || time.Now().After(deadline) {
			return id, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// stubProvider is a provider whose JWKS response a test controls, for the cases
// oidctest.Provider does not do on purpose (no kid, broken responses, odd keys).
type stubProvider struct {
	URL string
	srv *httptest.Server

	mu        sync.Mutex
	jwks      func(w http.ResponseWriter)
	issuer    string // discovery "issuer"; URL unless set
	jwksPath  string // where the JWKS is served and discovery points: /jwks unless set
	requests  int
	discovers int
	// discoveryDown makes discovery answer 503.
	discoveryDown bool
	// release are closed before the server closes, to let hung handlers end.
	release []chan struct{}
}

func newStubProvider(t *testing.T, keys ...jose.JSONWebKey) *stubProvider {
	t.Helper()
	s := &stubProvider{}
	s.setKeys(keys...)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		s.discovers++
		iss, path, down := s.issuer, s.path(), s.discoveryDown
		s.mu.Unlock()
		if down {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		if iss == "" {
			iss = s.URL
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": s.URL + path})
	})
	mux.HandleFunc("GET /{doc}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if r.URL.Path != s.path() {
			s.mu.Unlock()
			http.NotFound(w, r)
			return
		}
		s.requests++
		serve := s.jwks
		s.mu.Unlock()
		serve(w)
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		for _, c := range s.release {
			close(c)
		}
		s.srv.Close()
	})
	s.URL = s.srv.URL
	return s
}

func (s *stubProvider) setKeys(keys ...jose.JSONWebKey) {
	body, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		panic(err)
	}
	s.setJWKS(func(w http.ResponseWriter) { _, _ = w.Write(body) })
}

func (s *stubProvider) setJWKS(serve func(w http.ResponseWriter)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jwks = serve
}

// path is where the JWKS is; s.mu must be held.
func (s *stubProvider) path() string {
	if s.jwksPath == "" {
		return "/jwks"
	}
	return s.jwksPath
}

// moveJWKS serves the JWKS at path from now on, and 404 at the old one.
func (s *stubProvider) moveJWKS(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jwksPath = path
}

func (s *stubProvider) discoveries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.discovers
}

func (s *stubProvider) fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *stubProvider) issuerConfig(subjects ...string) oidc.Issuer {
	return oidc.Issuer{URL: s.URL, Audiences: []string{oidctest.DefaultAudience}, AllowedSubjects: subjects}
}

// stubClaims are valid claims from s at t0.
func (s *stubProvider) claims(sub string) map[string]any {
	return map[string]any{
		"iss": s.URL, "sub": sub, "aud": oidctest.DefaultAudience,
		"iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
	}
}
