package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authgraph/authgraph/internal/oidc"
	"github.com/authgraph/authgraph/internal/oidc/oidctest"
)

func TestVerifyAccepts(t *testing.T) {
	f := newFixture(t, nil)
	host := strings.TrimPrefix(f.p.URL, "http://")
	tests := []struct {
		name  string
		token func() string
		want  oidc.Identity
	}{
		{
			name:  "RS256, allowed subject, mapped username",
			token: func() string { return f.p.Sign(t, f.claims("alice-sub", nil)) },
			want:  oidc.Identity{Subject: "alice-sub", Username: "alice"},
		},
		{
			name:  "ES256, allowed subject",
			token: func() string { return f.p.SignES256(t, f.claims("alice-sub", nil)) },
			want:  oidc.Identity{Subject: "alice-sub", Username: "alice"},
		},
		{
			name: "allowed subject without mapping or email: host|sub",
			token: func() string {
				return f.p.Sign(t, f.claims("bare-sub", map[string]any{"email": "bare@example.com"}))
			},
			want: oidc.Identity{Subject: "bare-sub", Username: host + "|bare-sub"},
		},
		{
			name: "allowed subject without mapping, verified email: the email",
			token: func() string {
				return f.p.Sign(t, f.claims("bare-sub", map[string]any{"email": "Bare@Example.com", "email_verified": true}))
			},
			want: oidc.Identity{Subject: "bare-sub", Email: "Bare@Example.com", Username: "bare@example.com"},
		},
		{
			name: "allowed email in another case, no mapping: the email",
			token: func() string {
				return f.p.Sign(t, f.claims("google-oauth2|1", map[string]any{"email": "carol@EXAMPLE.com", "email_verified": true}))
			},
			want: oidc.Identity{Subject: "google-oauth2|1", Email: "carol@EXAMPLE.com", Username: "carol@example.com"},
		},
		{
			name: "allowed email, mapped username, email_verified as a string",
			token: func() string {
				return f.p.SignES256(t, f.claims("auth0|2", map[string]any{"email": "dave@example.com", "email_verified": "true"}))
			},
			want: oidc.Identity{Subject: "auth0|2", Email: "dave@example.com", Username: "dave"},
		},
		{
			name: "audience list containing ours",
			token: func() string {
				return f.p.Sign(t, f.claims("alice-sub", map[string]any{"aud": []string{"https://other/", oidctest.DefaultAudience}}))
			},
			want: oidc.Identity{Subject: "alice-sub", Username: "alice"},
		},
		{
			name: "exp and nbf within the clock skew",
			token: func() string {
				return f.p.Sign(t, f.claims("alice-sub", map[string]any{
					"exp": t0.Add(-20 * time.Second).Unix(),
					"nbf": t0.Add(20 * time.Second).Unix(),
					"iat": t0.Add(20 * time.Second).Unix(),
				}))
			},
			want: oidc.Identity{Subject: "alice-sub", Username: "alice"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.v.Verify(context.Background(), tt.token())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			tt.want.Issuer = f.p.URL
			if *got != tt.want {
				t.Errorf("identity = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestVerifyAcceptsATJWTType(t *testing.T) {
	f := newFixture(t, nil)
	key := newRSAKey(t)
	s := newStubProvider(t, jose.JSONWebKey{Key: key.Public(), KeyID: "k1", Algorithm: "RS256", Use: "sig"})
	v := newVerifier(t, []oidc.Issuer{s.issuerConfig("sub")}, oidc.WithClock(f.clock.Now))
	for _, typ := range []string{"at+jwt", "application/at+JWT", "JWT"} {
		opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", "k1")
		tok := signRaw(t, jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts, s.claims("sub"))
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("typ %q: %v", typ, err)
		}
	}
	opts := (&jose.SignerOptions{}).WithType("logout+jwt").WithHeader("kid", "k1")
	tok := signRaw(t, jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts, s.claims("sub"))
	_, err := v.Verify(context.Background(), tok)
	requireRejected(t, err, tok, false)
}

func TestVerifyRejects(t *testing.T) {
	f := newFixture(t, nil)
	other := oidctest.NewProvider(t) // a second, untrusted provider; its kids collide with f.p's
	other.Now = f.clock.Now
	pub := publishedRSAKey(t, f.p.JWKSURL, "rsa-1")
	rogue := newRSAKey(t)
	rogueEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	valid := func() map[string]any { return f.claims("alice-sub", nil) }

	tests := []struct {
		name       string
		token      func() string
		notAllowed bool
	}{
		// Signature and algorithm.
		{name: "signed by an unknown key with an unknown kid", token: func() string {
			return oidctest.SignWith(t, jose.RS256, rogue, "rogue-1", valid())
		}},
		{name: "signed by an unknown key reusing the provider's kid", token: func() string {
			return oidctest.SignWith(t, jose.RS256, rogue, "rsa-1", valid())
		}},
		{name: "signed by an unknown key, no kid", token: func() string {
			return oidctest.SignWith(t, jose.RS256, rogue, "", valid())
		}},
		{name: "ES256 by an unknown key naming the provider's RSA kid", token: func() string {
			return oidctest.SignWith(t, jose.ES256, rogueEC, "rsa-1", valid())
		}},
		{name: "alg none", token: func() string { return unsigned(t, "none", valid()) }},
		{name: "alg None", token: func() string { return unsigned(t, "None", valid()) }},
		{name: "alg NONE with a signature", token: func() string { return unsigned(t, "NONE", valid()) + "c2ln" }},
		{name: "HS256 keyed with the RSA public key (PKIX PEM)", token: func() string {
			return oidctest.SignWith(t, jose.HS256, pemPKIX(t, pub), "rsa-1", valid())
		}},
		{name: "HS256 keyed with the RSA public key (PKCS1 PEM)", token: func() string {
			der := x509.MarshalPKCS1PublicKey(pub)
			return oidctest.SignWith(t, jose.HS256, pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: der}), "rsa-1", valid())
		}},
		{name: "HS512 keyed with the RSA public key (DER)", token: func() string {
			der, _ := x509.MarshalPKIXPublicKey(pub)
			return oidctest.SignWith(t, jose.HS512, der, "rsa-1", valid())
		}},
		{name: "payload swapped after signing", token: func() string {
			good := strings.Split(f.p.Sign(t, f.claims("nobody", nil)), ".")
			forged := strings.Split(f.p.Sign(t, valid()), ".")
			return good[0] + "." + forged[1] + "." + good[2]
		}},
		{name: "issued by another provider under our issuer", token: func() string {
			return other.Sign(t, valid())
		}},

		// Time.
		{name: "expired", token: func() string {
			return f.p.Sign(t, f.claims("alice-sub", map[string]any{"exp": t0.Add(-time.Hour).Unix(), "iat": t0.Add(-2 * time.Hour).Unix()}))
		}},
		{name: "expired just beyond the skew", token: func() string {
			return f.p.Sign(t, f.claims("alice-sub", map[string]any{"exp": t0.Add(-31 * time.Second).Unix()}))
		}},
		{name: "no exp", token: func() string { return f.p.Sign(t, f.claims("alice-sub", map[string]any{"exp": nil})) }},
		{name: "nbf in the future", token: func() string {
			return f.p.Sign(t, f.claims("alice-sub", map[string]any{"nbf": t0.Add(5 * time.Minute).Unix()}))
		}},
		{name: "iat in the future", token: func() string {
			return f.p.Sign(t, f.claims("alice-sub", map[string]any{"iat": t0.Add(5 * time.Minute).Unix()}))
		}},
		{name: "exp not a number", token: func() string {
			return f.p.Sign(t, f.claims("alice-sub", map[string]any{"exp": "tomorrow"}))
		}},

		// Audience and issuer.
		{name: "wrong audience", token: func() string {
			return f.p.Sign(t, f.claims("alice-sub", map[string]any{"aud": "https://other.example/api"}))
		}},
		{name: "no audience", token: func() string { return f.p.Sign(t, f.claims("alice-sub", map[string]any{"aud": nil})) }},
		{name: "issuer with a trailing slash", token: func() string {
			return f.p.Sign(t, f.claims("alice-sub", map[string]any{"iss": f.p.URL + "/"}))
		}},
		{name: "unknown issuer", token: func() string {
			return f.p.Sign(t, f.claims("alice-sub", map[string]any{"iss": "https://evil.example/"}))
		}},
		{name: "no issuer", token: func() string { return f.p.Sign(t, f.claims("alice-sub", map[string]any{"iss": nil})) }},
		{name: "iss not a string", token: func() string { return f.p.Sign(t, f.claims("alice-sub", map[string]any{"iss": 7})) }},

		// Other token kinds.
		{name: "no subject", token: func() string { return f.p.Sign(t, f.claims("alice-sub", map[string]any{"sub": nil})) }},
		{name: "logout token", token: func() string {
			return f.p.Sign(t, f.claims("alice-sub", map[string]any{"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}}))
		}},

		// Allow-list.
		{name: "subject not allowed", notAllowed: true, token: func() string { return f.p.Sign(t, f.claims("mallory", nil)) }},
		{name: "allowed email not verified", notAllowed: true, token: func() string {
			return f.p.Sign(t, f.claims("mallory", map[string]any{"email": "dave@example.com", "email_verified": false}))
		}},
		{name: "allowed email, email_verified missing", notAllowed: true, token: func() string {
			return f.p.Sign(t, f.claims("mallory", map[string]any{"email": "dave@example.com"}))
		}},
		{name: "allowed email, email_verified \"false\"", notAllowed: true, token: func() string {
			return f.p.Sign(t, f.claims("mallory", map[string]any{"email": "dave@example.com", "email_verified": "false"}))
		}},
		{name: "email folding to an allowed one only under Unicode rules", notAllowed: true, token: func() string {
			// U+212A KELVIN SIGN equals "k" under strings.EqualFold: a different mailbox.
			return f.p.Sign(t, f.claims("mallory", map[string]any{"email": "\u212Aim@example.com", "email_verified": true}))
		}},
		{name: "subject differing in case", notAllowed: true, token: func() string { return f.p.Sign(t, f.claims("Alice-sub", nil)) }},

		// Garbage.
		{name: "empty", token: func() string { return "" }},
		{name: "not a JWT", token: func() string { return "Bearer hello-this-is-not-a-token" }},
		{name: "three empty segments", token: func() string { return ".." }},
		{name: "bad base64", token: func() string { return "!!!.@@@.###" }},
		{name: "base64 but not JSON", token: func() string {
			e := base64.RawURLEncoding.EncodeToString
			return e([]byte("hello")) + "." + e([]byte("world")) + "." + e([]byte("sig"))
		}},
		{name: "too many segments", token: func() string { return f.p.Sign(t, valid()) + ".extra" }},
		{name: "JWS JSON serialization", token: func() string {
			parts := strings.Split(f.p.Sign(t, valid()), ".")
			b, _ := json.Marshal(map[string]string{"protected": parts[0], "payload": parts[1], "signature": parts[2]})
			return string(b)
		}},
		{name: "huge garbage", token: func() string { return strings.Repeat("A", oidc.MaxTokenSize+1) }},
		{name: "validly signed but over the size limit", token: func() string {
			return f.p.Sign(t, f.claims("alice-sub", map[string]any{"pad": strings.Repeat("x", oidc.MaxTokenSize)}))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token()
			id, err := f.v.Verify(context.Background(), tok)
			if id != nil {
				t.Errorf("identity %+v returned with the error", *id)
			}
			requireRejected(t, err, tok, tt.notAllowed)
			t.Logf("rejected: %v", err)
		})
	}
}

// TestVerifyAlgorithmAllowList: an issuer limited to ES256 refuses RS256 from its own key.
func TestVerifyAlgorithmAllowList(t *testing.T) {
	f := newFixture(t, func(iss *oidc.Issuer) { iss.Algorithms = []string{"ES256"} })
	tok := f.p.Sign(t, f.claims("alice-sub", nil))
	_, err := f.v.Verify(context.Background(), tok)
	requireRejected(t, err, tok, false)
	if !strings.Contains(err.Error(), "RS256") {
		t.Errorf("error %q does not name the refused algorithm", err)
	}
	if _, err := f.v.Verify(context.Background(), f.p.SignES256(t, f.claims("alice-sub", nil))); err != nil {
		t.Errorf("ES256: %v", err)
	}
}

// TestVerifySkipsUnusableKeys: symmetric, encryption and weak (1024-bit) keys in a JWKS, and
// keys marked for an algorithm the issuer does not allow, are skipped, not trusted, and do
// not spoil the set.
func TestVerifySkipsUnusableKeys(t *testing.T) {
	good := newRSAKey(t)
	enc := newRSAKey(t)
	other := newRSAKey(t)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	s := newStubProvider(t,
		jose.JSONWebKey{Key: secret, KeyID: "oct", Algorithm: "HS256"},
		jose.JSONWebKey{Key: enc.Public(), KeyID: "enc", Use: "enc"},
		jose.JSONWebKey{Key: weak.Public(), KeyID: "weak", Use: "sig"},
		jose.JSONWebKey{Key: other.Public(), KeyID: "ps", Use: "sig", Algorithm: "PS256"},
		jose.JSONWebKey{Key: good.Public(), KeyID: "good", Use: "sig"},
	)
	v := newVerifier(t, []oidc.Issuer{s.issuerConfig("sub")}, oidc.WithClock(func() time.Time { return t0 }))
	ctx := context.Background()
	if _, err := v.Verify(ctx, oidctest.SignWith(t, jose.RS256, good, "good", s.claims("sub"))); err != nil {
		t.Fatalf("good key: %v", err)
	}
	for name, tok := range map[string]string{
		"symmetric key":  oidctest.SignWith(t, jose.HS256, secret, "oct", s.claims("sub")),
		"encryption key": oidctest.SignWith(t, jose.RS256, enc, "enc", s.claims("sub")),
		"1024-bit key":   oidctest.SignWith(t, jose.RS256, weak, "weak", s.claims("sub")),
		"key for PS256":  oidctest.SignWith(t, jose.RS256, other, "ps", s.claims("sub")),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(ctx, tok)
			requireRejected(t, err, tok, false)
		})
	}
}

// publishedRSAKey fetches the JWKS as an attacker would and returns the RSA key kid.
func publishedRSAKey(t *testing.T, jwksURL, kid string) *rsa.PublicKey {
	t.Helper()
	resp, err := http.Get(jwksURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("JWKS has %d keys %q", len(keys), kid)
	}
	return keys[0].Key.(*rsa.PublicKey)
}

func pemPKIX(t *testing.T, pub *rsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// unsigned hand-crafts an unsecured JWT (RFC 7519 §6) with the given alg spelling.
func unsigned(t *testing.T, alg string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "kid": "rsa-1"})
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	e := base64.RawURLEncoding.EncodeToString
	return e(h) + "." + e(c) + "."
}

func signRaw(t *testing.T, key jose.SigningKey, opts *jose.SignerOptions, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return signPayload(t, key, opts, payload)
}

// signPayload signs payload as it is, for claims json.Marshal would not write (a name twice).
func signPayload(t *testing.T, key jose.SigningKey, opts *jose.SignerOptions, payload []byte) string {
	t.Helper()
	signer, err := jose.NewSigner(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifyPassesTheAccountOn(t *testing.T) {
	f := newFixture(t, func(iss *oidc.Issuer) { iss.Account = "acme" })
	got, err := f.v.Verify(context.Background(), f.p.Sign(t, f.claims("alice-sub", nil)))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Account != "acme" || got.Username != "alice" {
		t.Errorf("identity = %+v, want account acme, username alice", *got)
	}
}

// TestVerifyIgnoresKeysNamedInTheToken: a key embedded in the token ("jwk") or a URL it names
// ("jku", "x5u") is never used or fetched; only the issuer's JWKS counts.
func TestVerifyIgnoresKeysNamedInTheToken(t *testing.T) {
	f := newFixture(t, nil, oidc.WithMinRefreshInterval(0))
	rogue := newRSAKey(t)
	var asked atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		asked.Add(1)
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: rogue.Public(), KeyID: "rogue", Use: "sig"}}})
	}))
	t.Cleanup(evil.Close)
	kid := kidOf(t, f.p.Sign(t, f.claims("alice-sub", nil)))

	for name, opts := range map[string]*jose.SignerOptions{
		"embedded jwk, the provider's kid": (&jose.SignerOptions{EmbedJWK: true}).WithHeader("kid", kid),
		"embedded jwk, no kid":             {EmbedJWK: true},
		"jku":                              (&jose.SignerOptions{}).WithHeader("jku", evil.URL).WithHeader("kid", "rogue"),
		"x5u":                              (&jose.SignerOptions{}).WithHeader("x5u", evil.URL).WithHeader("kid", "rogue"),
	} {
		t.Run(name, func(t *testing.T) {
			tok := signRaw(t, jose.SigningKey{Algorithm: jose.RS256, Key: rogue}, opts, f.claims("alice-sub", nil))
			_, err := f.v.Verify(context.Background(), tok)
			requireRejected(t, err, tok, false)
		})
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("a URL named in a token was fetched %d times", n)
	}
}

// TestVerifyRefusesClaimsRepeatedInAnotherCase: go-oidc reads "SUB" as "sub" (encoding/json
// ignores case, the last one wins); the allow-list must not see another subject than it.
func TestVerifyRefusesClaimsRepeatedInAnotherCase(t *testing.T) {
	key := newRSAKey(t)
	s := newStubProvider(t, jose.JSONWebKey{Key: key.Public(), KeyID: "k1", Use: "sig"})
	v := newVerifier(t, []oidc.Issuer{s.issuerConfig("alice-sub")}, oidc.WithClock(func() time.Time { return t0 }))
	sign := func(payload string) string {
		return signPayload(t, jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil, []byte(payload))
	}
	base := fmt.Sprintf(`"iss":%q,"aud":%q,"iat":%d`, s.URL, oidctest.DefaultAudience, t0.Unix())
	exp := fmt.Sprintf(`"exp":%d`, t0.Add(time.Hour).Unix())
	common := base + "," + exp

	for name, payload := range map[string]string{
		"SUB after sub":                 `{` + common + `,"sub":"mallory","SUB":"alice-sub"}`,
		"a future EXP after a past exp": `{` + base + `,"sub":"alice-sub","exp":` + fmt.Sprint(t0.Add(-time.Hour).Unix()) + `,"EXP":` + fmt.Sprint(t0.Add(time.Hour).Unix()) + `}`,
		"Iss after iss":                 `{` + common + `,"sub":"alice-sub","Iss":"https://evil.example/"}`,
	} {
		t.Run(name, func(t *testing.T) {
			tok := sign(payload)
			id, err := v.Verify(context.Background(), tok)
			if id != nil {
				t.Fatalf("signed in as %+v", *id)
			}
			requireRejected(t, err, tok, false)
			t.Logf("rejected: %v", err)
		})
	}

	// "sub" last: both readings are alice-sub.
	if _, err := v.Verify(context.Background(), sign(`{`+common+`,"SUB":"mallory","sub":"alice-sub"}`)); err != nil {
		t.Errorf("sub after SUB: %v", err)
	}
}

// TestVerifySeveralAudiences: an issuer with several audiences accepts a token for any one.
func TestVerifySeveralAudiences(t *testing.T) {
	const other = "https://second.example/api"
	f := newFixture(t, func(iss *oidc.Issuer) { iss.Audiences = append(iss.Audiences, other) })
	for _, aud := range []any{other, oidctest.DefaultAudience, []string{"https://x.example/", other}} {
		if _, err := f.v.Verify(context.Background(), f.p.Sign(t, f.claims("alice-sub", map[string]any{"aud": aud}))); err != nil {
			t.Errorf("aud %v: %v", aud, err)
		}
	}
	for _, aud := range []any{"https://x.example/", []string{}, nil} {
		tok := f.p.Sign(t, f.claims("alice-sub", map[string]any{"aud": aud}))
		_, err := f.v.Verify(context.Background(), tok)
		requireRejected(t, err, tok, false)
	}
}

// kidOf answers the kid in a JWT's header.
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &h); err != nil || h.Kid == "" {
		t.Fatalf("no kid in %s: %v", b, err)
	}
	return h.Kid
}
