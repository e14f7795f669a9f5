package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/authgraph/authgraph/internal/sso"
	"github.com/authgraph/authgraph/internal/sso/ssotest"
)

// Sign-in through an identity provider end to end: the real server over HTTP on a real
// redis-server, a real OpenID Provider (zitadel's op package, ssotest) on a loopback
// listener, and a browser played by an HTTP client with a cookie jar:
// /auth/acme/start → the provider's login page → /auth/acme/callback → signed in.

// ssoPublicURL is AUTHGRAPH_PUBLIC_URL here: the server's port is chosen after its
// configuration is read, so the provider redirects to this base, which the browser below
// checks and replaces with the test server's address.
const ssoPublicURL = "http://authgraph.test"

const (
	ssoCallback    = ssoPublicURL + "/auth/acme/callback"
	ssoAppRedirect = "http://app.test/cb"
	ssoVerifier    = "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
)

const codeLogin = `mutation($c: String!, $v: String!, $r: String!, $n: String) {
  createSessionUsingAuthorizationCode(input: {provider: "acme", code: $c, codeVerifier: $v, redirectUri: $r, nonce: $n}) {
    token method
  }
}`

// startSSOProvider runs a provider with authgraph's client and two users: alice, and
// mallory, who claims alice's address (verified, at this provider).
func startSSOProvider(t *testing.T) *ssotest.Provider {
	t.Helper()
	op := ssotest.Start(t, ssotest.Client{ID: "authgraph", Secret: "client-secret", RedirectURIs: []string{ssoCallback, ssoAppRedirect}})
	op.AddUser(ssotest.User{ID: "sub-alice", Username: "alice", Email: "alice@example.com", EmailVerified: true})
	op.AddUser(ssotest.User{ID: "sub-mallory", Username: "mallory", Email: "alice@example.com", EmailVerified: true})
	return op
}

// ssoProviders is AUTHGRAPH_SSO_PROVIDERS naming op as "acme".
func ssoProviders(op *ssotest.Provider, linkByEmail bool) string {
	b, _ := json.Marshal([]sso.Config{{
		Name: "acme", DisplayName: "Acme ID", Issuer: op.Issuer, ClientID: "authgraph", ClientSecret: "client-secret",
		ClientRedirectURIs: []string{ssoAppRedirect}, LinkByVerifiedEmail: linkByEmail,
	}})
	return string(b)
}

// get sends a GET without following redirects, with jar's cookies (nil: none).
func (s *testServer) get(t testing.TB, jar http.CookieJar, path string, headers ...string) *gqlResponse {
	t.Helper()
	return s.send(t, jar, http.MethodGet, s.URL+path, "", headers...)
}

func (s *testServer) send(t testing.TB, jar http.CookieJar, method, u, body string, headers ...string) *gqlResponse {
	t.Helper()
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := &gqlResponse{Status: resp.StatusCode, Header: resp.Header, Raw: string(b)}
	_ = json.Unmarshal(b, out)
	return out
}

// browser is a cookie jar and the provider's user it signs in as.
type browser struct {
	t   *testing.T
	srv *testServer
	op  *ssotest.Provider
	jar *cookiejar.Jar
}

func newSSOBrowser(t *testing.T, srv *testServer, op *ssotest.Provider) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, srv: srv, op: op, jar: jar}
}

// toProvider plays the user at the provider from authURL and answers the callback path
// (with its query) on the test server.
func (b *browser) toProvider(authURL, username string) string {
	b.t.Helper()
	back, err := b.op.SignIn(b.t.Context(), authURL, username)
	if err != nil {
		b.t.Fatal(err)
	}
	if !strings.HasPrefix(back.String(), ssoCallback+"?") {
		b.t.Fatalf("the provider sent the browser to %s, not the callback built from the public URL", back)
	}
	return strings.TrimPrefix(back.String(), ssoPublicURL)
}

// start follows /auth/acme/start to the provider and back, and answers the callback path.
func (b *browser) start(username, returnTo string) string {
	b.t.Helper()
	path := "/auth/acme/start"
	if returnTo != "" {
		path += "?returnTo=" + url.QueryEscape(returnTo)
	}
	r := b.srv.get(b.t, b.jar, path)
	if r.Status != http.StatusFound {
		b.t.Fatalf("start: %d %s", r.Status, r.Raw)
	}
	return b.toProvider(r.Header.Get("Location"), username)
}

func (b *browser) callback(path string) *gqlResponse {
	b.t.Helper()
	return b.srv.get(b.t, b.jar, path)
}

// me asks who the browser's session cookie signs in as.
func (b *browser) me() *gqlResponse {
	b.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": `{ me { username identities { provider subject email linkedAt } } }`})
	return b.srv.send(b.t, b.jar, http.MethodPost, b.srv.URL+"/graphql", string(body), "Content-Type", "application/json")
}

func wantStatusCode(t *testing.T, what string, r *gqlResponse, status int, code string) {
	t.Helper()
	if r.Status != status || r.code() != code {
		t.Errorf("%s: %d %s, want %d %s", what, r.Status, r.Raw, status, code)
	}
}

func TestSSOBrowserFlow(t *testing.T) {
	op := startSSOProvider(t)
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_SSO_PROVIDERS": ssoProviders(op, true), "AUTHGRAPH_PUBLIC_URL": ssoPublicURL,
		// Every step counts against sso:ip (20, then one every 2 s): this test takes more.
		"AUTHGRAPH_RATE_LIMITS": "sso:ip=1000/1m/1000"})
	admin := srv.login(t, adminName, adminPass)
	id := srv.createUser(t, admin, "alice", "alice-password-for-tests")
	// Her address is set by an admin, so not verified: the provider's verified address must
	// not link to it, or anyone who registers it at some provider would take her account.
	ok(t, "setUserEmail", srv.post(t, admin, `mutation($id: ObjectID!) { setUserEmail(input: {userId: $id, email: "alice@example.com"}) { id } }`, map[string]any{"id": id}))

	r := srv.post(t, "", `{ signInProviders { name displayName } }`, nil)
	if got := fmt.Sprint(r.Data["signInProviders"]); got != "[map[displayName:Acme ID name:acme]]" {
		t.Errorf("signInProviders = %s", r.Raw)
	}

	t.Run("not linked", func(t *testing.T) {
		b := newSSOBrowser(t, srv, op)
		wantStatusCode(t, "first sign-in of an unlinked identity", b.callback(b.start("alice", "")), http.StatusForbidden, "IDENTITY_NOT_LINKED")
	})

	// Alice links her provider account from a fresh password session.
	b := newSSOBrowser(t, srv, op)
	tok := srv.login(t, "alice", "alice-password-for-tests")
	lr := srv.send(t, b.jar, http.MethodPost, srv.URL+"/auth/acme/link", `{"returnTo":"/account#identities"}`,
		"Content-Type", "application/json", "x-auth-token", tok)
	if lr.Status != http.StatusOK {
		t.Fatalf("link: %d %s", lr.Status, lr.Raw)
	}
	var link struct{ URL string }
	_ = json.Unmarshal([]byte(lr.Raw), &link)
	cb := b.callback(b.toProvider(link.URL, "alice"))
	if cb.Status != http.StatusSeeOther || cb.Header.Get("Location") != "/account#identities" {
		t.Fatalf("link callback: %d %v %s", cb.Status, cb.Header, cb.Raw)
	}
	me := ok(t, "me", srv.post(t, tok, `{ me { identities { provider subject email } } }`, nil))
	if got := fmt.Sprint(me.Data["me"]); got != "map[identities:[map[email:alice@example.com provider:acme subject:sub-alice]]]" {
		t.Errorf("identities after linking: %s", me.Raw)
	}

	t.Run("sign in", func(t *testing.T) {
		b := newSSOBrowser(t, srv, op)
		began := time.Now()
		path := b.start("alice", "/account?tab=keys")
		atCallback := time.Now()
		r := b.callback(path)
		if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/account?tab=keys" {
			t.Fatalf("callback: %d %v %s", r.Status, r.Header, r.Raw)
		}
		t.Logf("one full flow on the loopback provider took %v (start, authorize and login %v; callback: code exchange, ID token check, session %v)",
			time.Since(began), atCallback.Sub(began), time.Since(atCallback))
		var session *http.Cookie
		for _, c := range readSetCookies(r.Header) {
			if c.Name == "authgraph_session" {
				session = c
			}
		}
		if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode {
			t.Fatalf("no HttpOnly SameSite=Lax session cookie in %v", r.Header["Set-Cookie"])
		}
		if got := b.me(); !strings.Contains(got.Raw, `"username":"alice"`) {
			t.Errorf("me with the session cookie: %s", got.Raw)
		}
		u, _ := url.Parse(path)
		if code := u.Query().Get("code"); strings.Contains(srv.logs.String(), code) {
			t.Errorf("the authorization code reached the log")
		}
		// The same callback again: the state was spent.
		wantStatusCode(t, "a replayed callback", b.callback(path), http.StatusUnauthorized, "INVALID_CREDENTIALS")
	})

	t.Run("refusals", func(t *testing.T) {
		b := newSSOBrowser(t, srv, op)
		wantStatusCode(t, "a made-up state", b.callback("/auth/acme/callback?state=made-up&code=x"), http.StatusUnauthorized, "INVALID_CREDENTIALS")

		// Started in one browser, finished in another (no binding cookie): refused, and the
		// state is spent, so the first browser cannot finish it either.
		path := b.start("alice", "")
		other := newSSOBrowser(t, srv, op)
		wantStatusCode(t, "a callback in another browser", other.callback(path), http.StatusUnauthorized, "INVALID_CREDENTIALS")
		wantStatusCode(t, "the starting browser after that", b.callback(path), http.StatusUnauthorized, "INVALID_CREDENTIALS")

		// A tampered code: the provider refuses it.
		path = b.start("alice", "")
		u, _ := url.Parse(path)
		q := u.Query()
		q.Set("code", q.Get("code")+"x")
		u.RawQuery = q.Encode()
		wantStatusCode(t, "a tampered code", b.callback(u.String()), http.StatusUnauthorized, "INVALID_CREDENTIALS")

		// The provider's own error answer.
		wantStatusCode(t, "error=access_denied", b.callback("/auth/acme/callback?error=access_denied&state=x"), http.StatusUnauthorized, "INVALID_CREDENTIALS")

		for _, rt := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)", "account", "/a\nb"} {
			r := srv.get(t, nil, "/auth/acme/start?returnTo="+url.QueryEscape(rt))
			wantStatusCode(t, "returnTo "+rt, r, http.StatusBadRequest, "BAD_USER_INPUT")
			if loc := r.Header.Get("Location"); loc != "" {
				t.Errorf("returnTo %q redirected to %s", rt, loc)
			}
		}
		wantStatusCode(t, "an unknown provider", srv.get(t, nil, "/auth/nope/start"), http.StatusBadRequest, "BAD_USER_INPUT")
		// Linking needs a session, through the CSRF rule.
		wantStatusCode(t, "link without a session", srv.send(t, nil, http.MethodPost, srv.URL+"/auth/acme/link", `{}`, "Content-Type", "application/json"),
			http.StatusUnauthorized, "UNAUTHENTICATED")
	})

	t.Run("another account claiming her verified address", func(t *testing.T) {
		// mallory's provider account has alice's address, verified there; alice's local
		// address is not verified: no link, no session.
		b := newSSOBrowser(t, srv, op)
		wantStatusCode(t, "mallory", b.callback(b.start("mallory", "")), http.StatusForbidden, "IDENTITY_NOT_LINKED")
	})

	t.Run("email changed at the provider", func(t *testing.T) {
		// The link is on the subject: a new address there changes nothing here.
		op.AddUser(ssotest.User{ID: "sub-alice", Username: "alice", Email: "alice@new.example", EmailVerified: true})
		defer op.AddUser(ssotest.User{ID: "sub-alice", Username: "alice", Email: "alice@example.com", EmailVerified: true})
		b := newSSOBrowser(t, srv, op)
		if r := b.callback(b.start("alice", "")); r.Status != http.StatusSeeOther {
			t.Fatalf("sign-in after an email change at the provider: %d %s", r.Status, r.Raw)
		}
		if got := b.me(); !strings.Contains(got.Raw, `"username":"alice"`) {
			t.Errorf("me: %s", got.Raw)
		}
	})

	t.Run("app runs the flow itself", func(t *testing.T) {
		authURL := func(nonce string) string {
			conf := oauth2.Config{ClientID: "authgraph", RedirectURL: ssoAppRedirect, Scopes: []string{"openid", "email"},
				Endpoint: oauth2.Endpoint{AuthURL: op.Issuer + "/auth"}}
			return conf.AuthCodeURL("app-state", oauth2.S256ChallengeOption(ssoVerifier), oauth2.SetAuthURLParam("nonce", nonce))
		}
		code := func(nonce string) string {
			back, err := op.SignIn(t.Context(), authURL(nonce), "alice")
			if err != nil {
				t.Fatal(err)
			}
			return back.Query().Get("code")
		}
		r := ok(t, "createSessionUsingAuthorizationCode", srv.post(t, "", codeLogin,
			map[string]any{"c": code("app-nonce"), "v": ssoVerifier, "r": ssoAppRedirect, "n": "app-nonce"}))
		if r.str(t, "createSessionUsingAuthorizationCode.method") != "EXTERNAL" {
			t.Errorf("method: %s", r.Raw)
		}
		wrongVerifier := strings.Repeat("w", 52)
		wantGQLCode(t, "PKCE verifier mismatch", srv.post(t, "", codeLogin,
			map[string]any{"c": code("n"), "v": wrongVerifier, "r": ssoAppRedirect, "n": "n"}), "INVALID_CREDENTIALS")
		wantGQLCode(t, "wrong nonce", srv.post(t, "", codeLogin,
			map[string]any{"c": code("n1"), "v": ssoVerifier, "r": ssoAppRedirect, "n": "n2"}), "INVALID_CREDENTIALS")
		wantGQLCode(t, "a redirect URI not allowed", srv.post(t, "", codeLogin,
			map[string]any{"c": "c", "v": ssoVerifier, "r": "https://evil.example/cb"}), "BAD_USER_INPUT")
		wantGQLCode(t, "the server's own callback", srv.post(t, "", codeLogin,
			map[string]any{"c": "c", "v": ssoVerifier, "r": ssoCallback}), "BAD_USER_INPUT")
		c := code("n3")
		ok(t, "first use of a code", srv.post(t, "", codeLogin, map[string]any{"c": c, "v": ssoVerifier, "r": ssoAppRedirect, "n": "n3"}))
		wantGQLCode(t, "code reuse", srv.post(t, "", codeLogin, map[string]any{"c": c, "v": ssoVerifier, "r": ssoAppRedirect, "n": "n3"}), "INVALID_CREDENTIALS")
	})

	t.Run("unlink", func(t *testing.T) {
		r := ok(t, "unlinkIdentity", srv.post(t, tok, `mutation { unlinkIdentity(input: {provider: "acme", subject: "sub-alice"}) { identities { provider } } }`, nil))
		if got := fmt.Sprint(r.Data["unlinkIdentity"]); got != "map[identities:[]]" {
			t.Errorf("after unlinking: %s", r.Raw)
		}
		wantGQLCode(t, "unlinking again", srv.post(t, tok, `mutation { unlinkIdentity(input: {provider: "acme", subject: "sub-alice"}) { id } }`, nil), "NOT_FOUND")
		b := newSSOBrowser(t, srv, op)
		wantStatusCode(t, "sign-in after unlinking", b.callback(b.start("alice", "")), http.StatusForbidden, "IDENTITY_NOT_LINKED")
	})

	// The callbacks and the mutation count as external sign-ins.
	body := srv.scrape(t)
	for _, want := range []string{
		`authgraph_auth_outcomes_total{method="external",outcome="ok"} `,
		`authgraph_auth_outcomes_total{method="external",outcome="bad_credentials"} `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in /metrics", want)
		}
	}
	if strings.Contains(body, `method="other"`) {
		t.Errorf("provider sign-ins counted as method other")
	}

	// Redis keys of a flow in progress, and their TTL.
	b2 := newSSOBrowser(t, srv, op)
	before := len(prefixKeys(t, rs))
	r = srv.get(t, b2.jar, "/auth/acme/start")
	keys := prefixKeys(t, rs)
	var flows []string
	for _, k := range keys {
		if strings.HasPrefix(k, rs.Prefix+"af:") {
			flows = append(flows, k)
		}
	}
	if len(flows) != 1 {
		t.Fatalf("flow keys after one start: %q", flows)
	}
	ttl := rs.Client.PTTL(t.Context(), flows[0]).Val()
	t.Logf("one flow in progress: %d new keys (%d af:), TTL %v", len(keys)-before, len(flows), ttl)
	if ttl <= 9*time.Minute || ttl > 10*time.Minute+time.Second {
		t.Errorf("flow TTL %v, want 10m", ttl)
	}
}

func TestSSOProviderDown(t *testing.T) {
	op := startSSOProvider(t)
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_SSO_PROVIDERS": ssoProviders(op, true), "AUTHGRAPH_PUBLIC_URL": ssoPublicURL})
	op.SetDown(true)
	r := srv.get(t, nil, "/auth/acme/start")
	wantStatusCode(t, "start with the provider down", r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	op.SetDown(false)
	// A failed discovery is the answer for two seconds: sign-ins do not queue behind retries.
	wantStatusCode(t, "start right after the provider is back", srv.get(t, nil, "/auth/acme/start"), http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	time.Sleep(2100 * time.Millisecond)
	b := newSSOBrowser(t, srv, op)
	path := b.start("alice", "")
	op.SetDown(true)
	wantStatusCode(t, "callback with the provider down", b.callback(path), http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
}

// readSetCookies parses the Set-Cookie headers of an answer.
func readSetCookies(h http.Header) []*http.Cookie {
	return (&http.Response{Header: h}).Cookies()
}

// TestSSOProvisioning: with "provision" and open sign-up, a first sign-in through the provider
// makes the user (username and verified email the provider's verified address) and links it.
func TestSSOProvisioning(t *testing.T) {
	op := startSSOProvider(t)
	op.AddUser(ssotest.User{ID: "sub-newbie", Username: "newbie", Email: "newbie@example.com", EmailVerified: true})
	var cfg []sso.Config
	_ = json.Unmarshal([]byte(ssoProviders(op, false)), &cfg)
	cfg[0].Provision = true
	providers, _ := json.Marshal(cfg)
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_SSO_PROVIDERS": string(providers), "AUTHGRAPH_PUBLIC_URL": ssoPublicURL,
		"AUTHGRAPH_SIGNUP": "OPEN"})
	b := newSSOBrowser(t, srv, op)
	if r := b.callback(b.start("newbie", "")); r.Status != http.StatusSeeOther {
		t.Fatalf("first sign-in: %d %s", r.Status, r.Raw)
	}
	me := b.me()
	if !strings.Contains(me.Raw, `"username":"newbie@example.com"`) || !strings.Contains(me.Raw, `"subject":"sub-newbie"`) {
		t.Fatalf("me after provisioning: %s", me.Raw)
	}
	// mallory and alice both have alice@example.com, verified, at the provider: the first
	// to sign in gets the user, the second IDENTITY_NOT_LINKED (one mailbox, one user).
	b2 := newSSOBrowser(t, srv, op)
	if r := b2.callback(b2.start("mallory", "")); r.Status != http.StatusSeeOther {
		t.Fatalf("mallory's first sign-in: %d %s", r.Status, r.Raw)
	}
	b3 := newSSOBrowser(t, srv, op)
	wantStatusCode(t, "a second identity with a provisioned address", b3.callback(b3.start("alice", "")), http.StatusForbidden, "IDENTITY_NOT_LINKED")
}
