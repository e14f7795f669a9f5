package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/sso"
	"github.com/authgraph/authgraph/internal/sso/ssotest"
)

// An app (a command line, a mobile app) runs authgraph's own flow: /auth/acme/start with its
// redirect URI, state and PKCE challenge → the provider → /auth/acme/callback → the app's
// redirect URI with a one-time code → createSessionUsingAuthorizationCode with the verifier.
// On the embedded store and on Redis, with the real OpenID Provider (ssotest).

// appLoopback is the loopback redirect URI the provider's configuration lists; apps use it
// with any port.
const appLoopback = "http://127.0.0.1/callback"

const appCodeLogin = `mutation($c: String!, $v: String!, $r: String!) {
  createSessionUsingAuthorizationCode(input: {provider: "acme", code: $c, codeVerifier: $v, redirectUri: $r}) { token method }
}`

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// appProviders is AUTHGRAPH_SSO_PROVIDERS for apps: acme provisions users, and allows the
// loopback redirect and ssoAppRedirect.
func appProviders(op *ssotest.Provider) string {
	b, _ := json.Marshal([]sso.Config{{
		Name: "acme", DisplayName: "Acme ID", Issuer: op.Issuer, ClientID: "authgraph", ClientSecret: "client-secret",
		ClientRedirectURIs: []string{ssoAppRedirect, appLoopback}, Provision: true,
	}})
	return string(b)
}

// appStart is the start URL path of an app's flow.
func appStart(redirect, state, verifier string) string {
	return "/auth/acme/start?" + url.Values{"redirect": {redirect}, "state": {state},
		"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}}.Encode()
}

// appFlow runs an app's flow in a fresh browser as username, and answers where the callback
// sent the browser.
func appFlow(t *testing.T, srv *testServer, op *ssotest.Provider, username, redirect, state, verifier string) *url.URL {
	t.Helper()
	b := newSSOBrowser(t, srv, op)
	r := srv.get(t, b.jar, appStart(redirect, state, verifier))
	if r.Status != http.StatusFound {
		t.Fatalf("start: %d %s", r.Status, r.Raw)
	}
	cb := b.callback(b.toProvider(r.Header.Get("Location"), username))
	if cb.Status != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", cb.Status, cb.Raw)
	}
	for _, c := range readSetCookies(cb.Header) {
		if c.Name == "authgraph_session" && c.MaxAge >= 0 {
			t.Errorf("an app's flow set a session cookie")
		}
	}
	u, err := url.Parse(cb.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSSOAppCodeFlow(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			op := startSSOProvider(t)
			env := map[string]string{"AUTHGRAPH_SSO_PROVIDERS": appProviders(op), "AUTHGRAPH_PUBLIC_URL": ssoPublicURL,
				"AUTHGRAPH_SIGNUP": "OPEN", "AUTHGRAPH_RATE_LIMITS": "sso:ip=1000/1m/1000"}
			var srv *testServer
			var rs *redistest.Server
			if store == "redis" {
				srv, rs = startRedisServer(t, env)
			} else {
				srv = startServer(t, env)
			}
			testAppCodeFlow(t, srv, rs, op)
		})
	}
}

func testAppCodeFlow(t *testing.T, srv *testServer, rs *redistest.Server, op *ssotest.Provider) {
	verifier := strings.Repeat("a", 20) + "-app-verifier-" + strings.Repeat("z", 20)
	redirect := "http://127.0.0.1:49152/callback" // the loopback URI, on the port the app listens on

	// Keys of the flow in progress, and of the code waiting for the app (Redis only).
	keysOf := func(kind string) []string {
		var out []string
		if rs == nil {
			return nil
		}
		for _, k := range prefixKeys(t, rs) {
			if strings.HasPrefix(k, rs.Prefix+kind) {
				out = append(out, k)
			}
		}
		return out
	}

	began := time.Now()
	b := newSSOBrowser(t, srv, op)
	r := srv.get(t, b.jar, appStart(redirect, "app-state", verifier))
	if r.Status != http.StatusFound {
		t.Fatalf("start: %d %s", r.Status, r.Raw)
	}
	if rs != nil {
		flows := keysOf("af:")
		if len(flows) != 1 {
			t.Fatalf("flow keys after one start: %d", len(flows))
		}
		t.Logf("app flow in progress: %d af: key, TTL %v", len(flows), rs.Client.PTTL(t.Context(), flows[0]).Val())
	}
	cb := b.callback(b.toProvider(r.Header.Get("Location"), "alice"))
	if cb.Status != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", cb.Status, cb.Raw)
	}
	back, _ := url.Parse(cb.Header.Get("Location"))
	code := back.Query().Get("code")
	if back.Scheme+"://"+back.Host+back.Path != redirect || back.Query().Get("state") != "app-state" || !strings.HasPrefix(code, "agc_") {
		t.Fatalf("the callback sent the browser to %s", back)
	}
	if rs != nil {
		codes := keysOf("ac:")
		if len(codes) != 1 || len(keysOf("af:")) != 0 {
			t.Fatalf("after the callback: %d ac: keys, %d af: keys; want 1 and 0", len(codes), len(keysOf("af:")))
		}
		ttl := rs.Client.PTTL(t.Context(), codes[0]).Val()
		t.Logf("code waiting for the app: %d ac: key, TTL %v", len(codes), ttl)
		if ttl <= 50*time.Second || ttl > time.Minute+time.Second {
			t.Errorf("code TTL %v, want a minute", ttl)
		}
		if strings.Contains(strings.Join(prefixKeys(t, rs), " "), code) {
			t.Errorf("the code itself is a key name")
		}
	}
	ses := ok(t, "trade the code", srv.post(t, "", appCodeLogin, map[string]any{"c": code, "v": verifier, "r": redirect}))
	t.Logf("one app flow (start, provider, callback, trade) took %v", time.Since(began))
	tok := ses.str(t, "createSessionUsingAuthorizationCode.token")
	if ses.str(t, "createSessionUsingAuthorizationCode.method") != "EXTERNAL" {
		t.Errorf("method: %s", ses.Raw)
	}
	if me := srv.post(t, tok, `{ me { username identities { provider subject } } }`, nil); !strings.Contains(me.Raw, `"username":"alice@example.com"`) ||
		!strings.Contains(me.Raw, `"subject":"sub-alice"`) {
		t.Errorf("me with the traded session: %s", me.Raw)
	}
	if rs != nil && len(keysOf("ac:")) != 0 {
		t.Errorf("the code's key outlived its trade")
	}
	if strings.Contains(srv.logs.String(), code) {
		t.Errorf("the one-time code reached the log")
	}
	wantGQLCode(t, "the code again", srv.post(t, "", appCodeLogin, map[string]any{"c": code, "v": verifier, "r": redirect}), "INVALID_CREDENTIALS")

	t.Run("a wrong verifier spends the code", func(t *testing.T) {
		code := appFlow(t, srv, op, "alice", redirect, "s", verifier).Query().Get("code")
		wantGQLCode(t, "a wrong verifier", srv.post(t, "", appCodeLogin, map[string]any{"c": code, "v": strings.Repeat("w", 52), "r": redirect}), "INVALID_CREDENTIALS")
		wantGQLCode(t, "then the right one", srv.post(t, "", appCodeLogin, map[string]any{"c": code, "v": verifier, "r": redirect}), "INVALID_CREDENTIALS")
	})
	t.Run("another redirect URI spends the code", func(t *testing.T) {
		code := appFlow(t, srv, op, "alice", redirect, "s", verifier).Query().Get("code")
		other := "http://127.0.0.1:49153/callback" // allowed, but not the flow's
		wantGQLCode(t, "another port", srv.post(t, "", appCodeLogin, map[string]any{"c": code, "v": verifier, "r": other}), "INVALID_CREDENTIALS")
		wantGQLCode(t, "then the flow's", srv.post(t, "", appCodeLogin, map[string]any{"c": code, "v": verifier, "r": redirect}), "INVALID_CREDENTIALS")
	})
	t.Run("an exact redirect URI and IPv6 loopback", func(t *testing.T) {
		for _, r := range []string{ssoAppRedirect, "http://[::1]:50000/callback"} {
			code := appFlow(t, srv, op, "alice", r, "", verifier).Query().Get("code")
			ok(t, "trade at "+r, srv.post(t, "", appCodeLogin, map[string]any{"c": code, "v": verifier, "r": r}))
		}
	})
	t.Run("a made-up code", func(t *testing.T) {
		wantGQLCode(t, "made up", srv.post(t, "", appCodeLogin, map[string]any{"c": "agc_" + strings.Repeat("x", 49), "v": verifier, "r": redirect}), "INVALID_CREDENTIALS")
	})
	t.Run("refused at the start", func(t *testing.T) {
		ch := s256(verifier)
		for what, q := range map[string]url.Values{
			"a redirect URI not allowed": {"redirect": {"https://evil.example/cb"}, "code_challenge": {ch}, "code_challenge_method": {"S256"}},
			"localhost is not loopback":  {"redirect": {"http://localhost:49152/callback"}, "code_challenge": {ch}, "code_challenge_method": {"S256"}},
			"another loopback path":      {"redirect": {"http://127.0.0.1:49152/other"}, "code_challenge": {ch}, "code_challenge_method": {"S256"}},
			"no challenge":               {"redirect": {redirect}},
			"plain PKCE":                 {"redirect": {redirect}, "code_challenge": {verifier}, "code_challenge_method": {"plain"}},
			"a short challenge":          {"redirect": {redirect}, "code_challenge": {"abc"}, "code_challenge_method": {"S256"}},
			"redirect and returnTo":      {"redirect": {redirect}, "returnTo": {"/account"}, "code_challenge": {ch}, "code_challenge_method": {"S256"}},
			"a protocol-relative path":   {"redirect": {"//evil.example/"}},
		} {
			r := srv.get(t, nil, "/auth/acme/start?"+q.Encode())
			wantStatusCode(t, what, r, http.StatusBadRequest, "BAD_USER_INPUT")
			if loc := r.Header.Get("Location"); loc != "" {
				t.Errorf("%s: redirected to %s", what, loc)
			}
		}
		// A path is returnTo.
		if r := srv.get(t, nil, "/auth/acme/start?redirect=%2Faccount"); r.Status != http.StatusFound {
			t.Errorf("redirect=/account: %d %s", r.Status, r.Raw)
		}
	})
	t.Run("the provider's error goes to the app", func(t *testing.T) {
		b := newSSOBrowser(t, srv, op)
		r := srv.get(t, b.jar, appStart(redirect, "app-state-3", verifier))
		loc, _ := url.Parse(r.Header.Get("Location"))
		state := loc.Query().Get("state")
		// Another browser's error for that state tells nobody, and spends the flow.
		other := newSSOBrowser(t, srv, op)
		wantStatusCode(t, "another browser's error", other.callback("/auth/acme/callback?error=access_denied&state="+url.QueryEscape(state)),
			http.StatusUnauthorized, "INVALID_CREDENTIALS")
		r = srv.get(t, b.jar, appStart(redirect, "app-state-3", verifier))
		loc, _ = url.Parse(r.Header.Get("Location"))
		cb := b.callback("/auth/acme/callback?error=access_denied&state=" + url.QueryEscape(loc.Query().Get("state")))
		back, _ := url.Parse(cb.Header.Get("Location"))
		if cb.Status != http.StatusSeeOther || back.Query().Get("error") != "access_denied" || back.Query().Get("state") != "app-state-3" ||
			!strings.HasPrefix(back.String(), redirect+"?") {
			t.Errorf("the provider's error: %d, to %s", cb.Status, back)
		}
	})
	t.Run("a refusal goes to the app", func(t *testing.T) {
		// mallory has alice's address at the provider, and alice's user has it: not
		// provisioned again, not linked.
		back := appFlow(t, srv, op, "mallory", redirect, "app-state-2", verifier)
		q := back.Query()
		if q.Get("error") != "access_denied" || q.Get("error_description") != "IDENTITY_NOT_LINKED" || q.Get("state") != "app-state-2" || q.Has("code") {
			t.Errorf("a refused sign-in sent the browser to %s", back)
		}
	})
}

// TestSSOFlowFigures: the time of one full flow on the loopback provider, and the Redis keys
// of a flow in progress with their TTLs, for the cookie flow and the app's one-time code flow
// (go test ./server -run TestSSOFlowFigures -v).
func TestSSOFlowFigures(t *testing.T) {
	op := startSSOProvider(t)
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_SSO_PROVIDERS": appProviders(op), "AUTHGRAPH_PUBLIC_URL": ssoPublicURL,
		"AUTHGRAPH_SIGNUP": "OPEN", "AUTHGRAPH_RATE_LIMITS": "sso:ip=1000/1m/1000"})
	// The first sign-in discovers the provider and provisions alice; the measured ones sign
	// her in.
	b := newSSOBrowser(t, srv, op)
	if r := b.callback(b.start("alice", "")); r.Status != http.StatusSeeOther {
		t.Fatalf("first sign-in: %d %s", r.Status, r.Raw)
	}
	// newKeys answers the keys that are not in before, by kind (the part before ":"), with
	// their TTLs.
	snapshot := func() map[string]bool {
		m := map[string]bool{}
		for _, k := range prefixKeys(t, rs) {
			m[k] = true
		}
		return m
	}
	newKeys := func(before map[string]bool) string {
		var out []string
		for _, k := range prefixKeys(t, rs) {
			if !before[k] {
				kind, _, _ := strings.Cut(strings.TrimPrefix(k, rs.Prefix), ":")
				out = append(out, kind+": TTL "+rs.Client.PTTL(t.Context(), k).Val().Round(time.Second).String())
			}
		}
		return strings.Join(out, ", ")
	}
	const n = 10
	var cookie, app, cookieFull, appFull time.Duration
	verifier := strings.Repeat("v", 43)
	redirect := "http://127.0.0.1:49152/callback"
	for i := range n {
		// The cookie flow.
		b := newSSOBrowser(t, srv, op)
		before := snapshot()
		full := time.Now()
		began := time.Now()
		r := srv.get(t, b.jar, "/auth/acme/start")
		elapsed := time.Since(began)
		if i == 0 {
			t.Logf("cookie flow, between start and callback: new keys [%s]", newKeys(before))
		}
		path := b.toProvider(r.Header.Get("Location"), "alice")
		began = time.Now()
		if cb := b.callback(path); cb.Status != http.StatusSeeOther {
			t.Fatalf("callback: %d %s", cb.Status, cb.Raw)
		}
		cookie += elapsed + time.Since(began)
		cookieFull += time.Since(full)

		// The app's flow.
		b = newSSOBrowser(t, srv, op)
		before = snapshot()
		full = time.Now()
		began = time.Now()
		r = srv.get(t, b.jar, appStart(redirect, "st", verifier))
		elapsed = time.Since(began)
		if i == 0 {
			t.Logf("app flow, between start and callback: new keys [%s]", newKeys(before))
		}
		path = b.toProvider(r.Header.Get("Location"), "alice")
		before = snapshot()
		began = time.Now()
		cb := b.callback(path)
		back, _ := url.Parse(cb.Header.Get("Location"))
		elapsed += time.Since(began)
		if i == 0 {
			t.Logf("app flow, between callback and trade: new keys [%s] (the flow's af: key is gone)", newKeys(before))
		}
		began = time.Now()
		ok(t, "trade", srv.post(t, "", appCodeLogin, map[string]any{"c": back.Query().Get("code"), "v": verifier, "r": redirect}))
		app += elapsed + time.Since(began)
		appFull += time.Since(full)
	}
	t.Logf("authgraph's own time per flow, mean of %d on the loopback provider (start + callback with code exchange, ID token check and session; the provider's pages not counted): cookie flow %v, app flow (start + callback + trade) %v",
		n, cookie/n, app/n)
	t.Logf("whole flow with the provider's authorize and login pages (key snapshots included): cookie flow %v, app flow %v", cookieFull/n, appFull/n)
}
