package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/oidc"
	"github.com/authgraph/authgraph/internal/oidc/oidctest"
)

// External sign-in end to end: the real server, over HTTP, on a real
// redis-server, trusting loopback identity providers (oidctest) through AUTHGRAPH_OIDC_ISSUERS.

const externalLogin = `mutation($t: String!, $r: Boolean, $m: TokenMode) {
  createSessionUsingExternalToken(input: {token: $t, name: "sso", refreshable: $r, mode: $m}) {
    token refreshToken refreshable method name expiresIn
  }
}`

// externalSetup is a server (with the extra settings env) trusting three providers: idp (its users sign in to the default
// account), acmeIdP (to the account acme) and downIdP (stopped before anyone asked it).
type externalSetup struct {
	srv                   *testServer
	idp, acmeIdP, downIdP *oidctest.Provider
	// tokens collects every external token sent, to prove that none reaches the log.
	tokens []string
}

func newExternalSetup(t *testing.T, env map[string]string) *externalSetup {
	t.Helper()
	e := &externalSetup{idp: oidctest.NewProvider(t), acmeIdP: oidctest.NewProvider(t), downIdP: oidctest.NewProvider(t)}
	def := e.idp.Issuer("alice-sub", "ghost-sub")
	def.Users = map[string]string{"alice-sub": "alice", "ghost-sub": "ghost"} // ghost has no local user
	acme := e.acmeIdP.Issuer("bob-sub")
	acme.Users = map[string]string{"bob-sub": "bob"}
	acme.Account = "acme"
	down := e.downIdP.Issuer("alice-sub")
	down.Users = map[string]string{"alice-sub": "alice"}
	issuers, err := json.Marshal([]oidc.Issuer{def, acme, down})
	if err != nil {
		t.Fatal(err)
	}
	e.downIdP.Close()
	settings := map[string]string{
		"AUTHGRAPH_OIDC_ISSUERS": string(issuers),
		// Refetch the JWKS on every unknown key id, so that rotation needs no waiting.
		"AUTHGRAPH_OIDC_MIN_REFRESH_INTERVAL": "0s",
	}
	for k, v := range env {
		settings[k] = v
	}
	e.srv, _ = startRedisServer(t, settings)

	// The users exist first: external sign-in never makes them.
	admin := e.srv.login(t, adminName, adminPass)
	e.srv.createUser(t, admin, "alice", "alice-password-for-tests")
	if r := e.srv.post(t, admin, `mutation { createAccount(input: {slug: "acme", name: "Acme"}) { id } }`, nil); r.code() != "" {
		t.Fatalf("createAccount: %s", r.Raw)
	}
	if r := e.srv.post(t, admin, `mutation { createUser(input: {account: "acme", username: "bob", password: "bob-password-for-tests"}) { id } }`, nil); r.code() != "" {
		t.Fatalf("createUser bob: %s", r.Raw)
	}
	// A "bob" in the default account too: acmeIdP's bob must land in acme, not here.
	e.srv.createUser(t, admin, "bob", "default-bob-password")
	return e
}

// login sends an external token (remembering it) and answers the response.
func (e *externalSetup) login(t *testing.T, tok string, vars map[string]any, headers ...string) *gqlResponse {
	t.Helper()
	e.tokens = append(e.tokens, tok)
	v := map[string]any{"t": tok}
	for k, x := range vars {
		v[k] = x
	}
	return e.srv.post(t, "", externalLogin, v, headers...)
}

// wantSignedIn checks that r made an EXTERNAL session that authenticates as username (in
// account) and is stored with its method, and answers its token.
func (e *externalSetup) wantSignedIn(t *testing.T, what string, r *gqlResponse, username, account string) string {
	t.Helper()
	if r.Status != http.StatusOK || r.code() != "" {
		t.Fatalf("%s: %d %s", what, r.Status, r.Raw)
	}
	if r.str(t, "createSessionUsingExternalToken.method") != "EXTERNAL" || r.str(t, "createSessionUsingExternalToken.name") != "sso" {
		t.Fatalf("%s: %s", what, r.Raw)
	}
	tok := r.str(t, "createSessionUsingExternalToken.token")
	me := e.srv.post(t, tok, `{ me { username account { slug } sessions { nodes { method current } } } }`, nil)
	if me.code() != "" || me.str(t, "me.username") != username || me.str(t, "me.account.slug") != account {
		t.Fatalf("%s: me = %s, want %s in %s", what, me.Raw, username, account)
	}
	found := false
	for _, n := range me.field("me.sessions.nodes").([]any) {
		n := n.(map[string]any)
		found = found || (n["current"] == true && n["method"] == "EXTERNAL")
	}
	if !found {
		t.Fatalf("%s: the stored session is not EXTERNAL: %s", what, me.Raw)
	}
	return tok
}

// wantRefused checks that r is INVALID_CREDENTIALS, HTTP 200, with no data and no cookie.
func wantRefused(t *testing.T, what string, r *gqlResponse) {
	t.Helper()
	if r.Status != http.StatusOK || r.code() != string(auth.CodeInvalidCredentials) || r.Errors[0].Message != auth.MsgInvalidCredentials {
		t.Errorf("%s: %d %s, want INVALID_CREDENTIALS", what, r.Status, r.Raw)
	}
	if r.Data != nil || strings.Contains(r.Raw, `"token"`) || len(r.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("%s: an answer with data or a cookie: %s %v", what, r.Raw, r.Header.Values("Set-Cookie"))
	}
}

func TestExternalLoginRedis(t *testing.T) {
	// More sign-ins from one address in a minute than external:ip allows (20): its own
	// test is TestExternalLoginIsLimited.
	e := newExternalSetup(t, map[string]string{"AUTHGRAPH_RATE_LIMITS": "external:ip=1000/1m"})
	p := e.idp

	t.Run("RS256 signs in as the mapped user", func(t *testing.T) {
		e.wantSignedIn(t, "RS256", e.login(t, p.Sign(t, p.Claims("alice-sub")), nil), "alice", "default")
	})
	t.Run("ES256 too", func(t *testing.T) {
		e.wantSignedIn(t, "ES256", e.login(t, p.SignES256(t, p.Claims("alice-sub")), nil), "alice", "default")
	})
	t.Run("the issuer's account decides where the user is", func(t *testing.T) {
		a := e.acmeIdP
		e.wantSignedIn(t, "acme", e.login(t, a.Sign(t, a.Claims("bob-sub")), nil), "bob", "acme")
	})

	t.Run("refreshable, like a password sign-in", func(t *testing.T) {
		r := e.login(t, p.Sign(t, p.Claims("alice-sub")), map[string]any{"r": true})
		e.wantSignedIn(t, "refreshable", r, "alice", "default")
		if r.field("createSessionUsingExternalToken.refreshable") != true || r.field("createSessionUsingExternalToken.expiresIn").(float64) > 900 {
			t.Fatalf("refreshable: %s", r.Raw)
		}
		next := e.srv.refresh(t, r.str(t, "createSessionUsingExternalToken.refreshToken"))
		if next.code() != "" {
			t.Fatalf("refresh: %s", next.Raw)
		}
		me := e.srv.post(t, next.str(t, "refreshSession.token"), `{ me { username sessions { nodes { method current } } } }`, nil)
		if me.str(t, "me.username") != "alice" || !strings.Contains(me.Raw, `{"method":"EXTERNAL","current":true}`) {
			t.Fatalf("after the refresh: %s", me.Raw)
		}
	})
	t.Run("COOKIE mode, like a password sign-in", func(t *testing.T) {
		r := e.login(t, p.Sign(t, p.Claims("alice-sub")), map[string]any{"m": "COOKIE"})
		if r.code() != "" || r.field("createSessionUsingExternalToken.token") != nil {
			t.Fatalf("COOKIE mode: the token is in the JSON: %s", r.Raw)
		}
		session := wantTokenCookie(t, r, "authgraph_session", thirtyDays, false)
		me := e.srv.postCookie(t, "authgraph_session="+session, `{ me { username } }`, nil)
		if me.code() != "" || me.str(t, "me.username") != "alice" {
			t.Fatalf("with the cookie: %s", me.Raw)
		}
	})

	t.Run("tokens that are not accepted", func(t *testing.T) {
		claims := p.Claims("alice-sub")
		good := p.Sign(t, claims)
		kid := kidOf(t, good)
		stranger, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		other := oidctest.NewProvider(t) // a provider nobody configured
		at := func(set map[string]any) map[string]any {
			c := p.Claims("alice-sub")
			for k, v := range set {
				c[k] = v
			}
			return c
		}
		now := time.Now()
		cases := []struct{ name, tok string }{
			{"signed by an unknown key under the issuer's kid", oidctest.SignWith(t, jose.RS256, stranger, kid, claims)},
			{"signed by an unknown key under an unknown kid", oidctest.SignWith(t, jose.RS256, stranger, "made-up", claims)},
			{"signed by an unknown key without a kid", oidctest.SignWith(t, jose.RS256, stranger, "", claims)},
			{"alg none", unsigned(t, claims)},
			{"HS256 (algorithm confusion)", oidctest.SignWith(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), kid, claims)},
			{"expired", p.Sign(t, at(map[string]any{"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}))},
			{"nbf in the future", p.Sign(t, at(map[string]any{"nbf": now.Add(time.Hour).Unix()}))},
			{"for another audience", p.Sign(t, at(map[string]any{"aud": "https://someone-else.example/api"}))},
			{"from an unknown issuer", other.Sign(t, other.Claims("alice-sub"))},
			{"another issuer's iss on our token", p.Sign(t, at(map[string]any{"iss": e.acmeIdP.URL}))},
			{"a tampered payload", tamper(t, good)},
			{"a subject not allowed", p.Sign(t, p.Claims("mallory-sub"))},
			{"an allowed subject with no local user", p.Sign(t, p.Claims("ghost-sub"))},
			{"not a JWT", "not-a-jwt"},
			{"empty", ""},
			{"an authgraph session token", e.srv.login(t, "alice", "alice-password-for-tests")},
		}
		for _, c := range cases {
			wantRefused(t, c.name, e.login(t, c.tok, nil))
		}
		// A refused token in COOKIE mode sets no cookie either.
		wantRefused(t, "refused, COOKIE mode", e.login(t, p.Sign(t, p.Claims("mallory-sub")), map[string]any{"m": "COOKIE"}))
	})

	t.Run("key rotation", func(t *testing.T) {
		before := p.Sign(t, p.Claims("alice-sub"))
		e.wantSignedIn(t, "before the rotation", e.login(t, before, nil), "alice", "default")
		p.Rotate(t)
		fetches := p.JWKSFetches()
		e.wantSignedIn(t, "a token of the new key", e.login(t, p.Sign(t, p.Claims("alice-sub")), nil), "alice", "default")
		e.wantSignedIn(t, "ES256, new key", e.login(t, p.SignES256(t, p.Claims("alice-sub")), nil), "alice", "default")
		if p.JWKSFetches() != fetches+1 {
			t.Errorf("JWKS fetched %d times for the new keys, want once (then cached)", p.JWKSFetches()-fetches)
		}
		// The provider withdrew the old key: a token it signed no longer signs in.
		wantRefused(t, "a token of the withdrawn key", e.login(t, before, nil))
	})

	t.Run("issuer down is 503, not a refusal", func(t *testing.T) {
		d := e.downIdP
		r := e.login(t, d.Sign(t, d.Claims("alice-sub")), nil)
		if r.Status != http.StatusServiceUnavailable || r.code() != string(auth.CodeUnavailable) || r.Data != nil {
			t.Fatalf("issuer down: %d %s", r.Status, r.Raw)
		}
		// The other issuers still work.
		e.wantSignedIn(t, "another issuer meanwhile", e.login(t, p.Sign(t, p.Claims("alice-sub")), nil), "alice", "default")
	})

	t.Run("metrics count external sign-ins, and hold no token", func(t *testing.T) {
		body := e.srv.scrape(t)
		for _, want := range []string{
			`authgraph_auth_outcomes_total{method="external",outcome="ok"} `,
			`authgraph_auth_outcomes_total{method="external",outcome="bad_credentials"} `,
			`authgraph_auth_outcomes_total{method="external",outcome="unavailable"} 1`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("no %q in /metrics", want)
			}
		}
		if strings.Contains(body, `method="other"`) {
			t.Errorf("external sign-ins counted as method other")
		}
		assertNoSecretIn(t, "/metrics", body, e.tokens)
	})
	t.Run("no token in the log", func(t *testing.T) {
		logs := e.srv.logs.String()
		if !strings.Contains(logs, "external_login_refused") {
			t.Fatalf("the refusals were not logged (at debug): the check below would prove little")
		}
		var parts []string
		for _, tok := range e.tokens {
			parts = append(parts, tok)
			if segs := strings.Split(tok, "."); len(segs) == 3 {
				parts = append(parts, segs[1], segs[2]) // a payload or signature alone is a leak too
			}
		}
		assertNoSecretIn(t, "the server log", logs, parts)
	})
}

func TestExternalLoginOff(t *testing.T) {
	srv := startServer(t, nil)
	p := oidctest.NewProvider(t)
	r := srv.post(t, "", externalLogin, map[string]any{"t": p.Sign(t, p.Claims("alice-sub"))})
	if r.Status != http.StatusOK || r.code() != string(auth.CodeInvalidInput) || r.Errors[0].Message != auth.MsgExternalLoginOff || r.Data != nil {
		t.Fatalf("external login while off: %d %s", r.Status, r.Raw)
	}
	if p.JWKSFetches() != 0 {
		t.Fatal("the provider was asked though nobody configured it")
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

// unsigned answers claims as an `alg: none` JWT.
func unsigned(t *testing.T, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
}

// tamper answers tok with its payload's subject changed and the signature kept.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	segs := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(segs[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	c["sub"] = "ghost-sub"
	b, _ = json.Marshal(c)
	return segs[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + segs[2]
}
