// Package oidctest runs a fake OpenID Connect provider on loopback for tests: it serves a
// discovery document and a JWKS from httptest, signs tokens with real RSA and ECDSA keys, and
// rotates them on demand. It is meant for oidc's own tests and for end-to-end tests of what
// calls oidc.Verifier.
package oidctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authgraph/authgraph/internal/oidc"
)

// DefaultAudience is the audience Claims puts in tokens and Issuer accepts.
const DefaultAudience = "https://authgraph.test/api"

// Provider is a fake identity provider. Its discovery document is at
// URL + "/.well-known/openid-configuration" and its JWKS at JWKSURL. Safe for concurrent use.
type Provider struct {
	// URL is the issuer identifier (http://127.0.0.1:port), as in "iss".
	URL string
	// JWKSURL is where the current public keys are served.
	JWKSURL string
	// Now is the clock Claims stamps tokens with; time.Now unless a test sets it.
	Now func() time.Time

	srv *httptest.Server

	mu          sync.Mutex
	generation  int
	rsaKey      *rsa.PrivateKey
	ecKey       *ecdsa.PrivateKey
	jwksFetches int
}

// NewProvider starts a provider with a fresh RSA and ECDSA P-256 key; it stops when the test
// ends.
func NewProvider(t testing.TB) *Provider {
	t.Helper()
	p := &Provider{Now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.serveDiscovery)
	mux.HandleFunc("GET /jwks", p.serveJWKS)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	p.URL = p.srv.URL
	p.JWKSURL = p.srv.URL + "/jwks"
	p.Rotate(t)
	return p
}

// Issuer returns an oidc.Issuer for this provider that accepts DefaultAudience and lets the
// given subjects sign in; tests add emails, users or algorithms to it.
func (p *Provider) Issuer(allowedSubjects ...string) oidc.Issuer {
	return oidc.Issuer{URL: p.URL, Audiences: []string{DefaultAudience}, AllowedSubjects: allowedSubjects}
}

// Claims returns valid claims for sub: this issuer, DefaultAudience, issued now by p.Now and
// expiring in an hour. Tests change or delete entries before signing.
func (p *Provider) Claims(sub string) map[string]any {
	now := p.Now()
	return map[string]any{
		"iss": p.URL,
		"sub": sub,
		"aud": DefaultAudience,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
}

// Sign returns claims as a JWT signed RS256 with the current RSA key, its kid in the header.
func (p *Provider) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	p.mu.Lock()
	key, kid := p.rsaKey, p.kid("rsa")
	p.mu.Unlock()
	return SignWith(t, jose.RS256, key, kid, claims)
}

// SignES256 is Sign with the current ECDSA P-256 key.
func (p *Provider) SignES256(t testing.TB, claims map[string]any) string {
	t.Helper()
	p.mu.Lock()
	key, kid := p.ecKey, p.kid("ec")
	p.mu.Unlock()
	return SignWith(t, jose.ES256, key, kid, claims)
}

// Rotate replaces both keys with new ones under new kids. The JWKS serves only the new keys
// from then on, so tokens signed before stop verifying once a verifier refetches.
func (p *Provider) Rotate(t testing.TB) {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("oidctest: generating RSA key: %v", err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("oidctest: generating ECDSA key: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.generation++
	p.rsaKey, p.ecKey = rsaKey, ecKey
}

// JWKSFetches returns how many times the JWKS has been served, to check caching.
func (p *Provider) JWKSFetches() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.jwksFetches
}

// Close stops the server early, e.g. to test a provider that is down.
func (p *Provider) Close() { p.srv.Close() }

// SignWith signs claims with any key and algorithm, kid in the header when not empty. Tests
// use it for tokens the provider would never issue (unknown keys, forbidden algorithms).
func SignWith(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	sk := jose.SigningKey{Algorithm: alg, Key: key}
	if kid != "" {
		sk.Key = jose.JSONWebKey{Key: key, KeyID: kid}
	}
	signer, err := jose.NewSigner(sk, opts)
	if err != nil {
		t.Fatalf("oidctest: signer: %v", err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatalf("oidctest: signing: %v", err)
	}
	return raw
}

// kid names the current key of a kind; p.mu must be held.
func (p *Provider) kid(kind string) string { return fmt.Sprintf("%s-%d", kind, p.generation) }

func (p *Provider) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                p.URL,
		"jwks_uri":                              p.JWKSURL,
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
	})
}

func (p *Provider) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	p.jwksFetches++
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: p.rsaKey.Public(), KeyID: p.kid("rsa"), Algorithm: string(jose.RS256), Use: "sig"},
		{Key: p.ecKey.Public(), KeyID: p.kid("ec"), Algorithm: string(jose.ES256), Use: "sig"},
	}}
	p.mu.Unlock()
	writeJSON(w, set)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
