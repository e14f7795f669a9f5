package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/authgraph/authgraph/internal/sso"
	"github.com/authgraph/authgraph/internal/sso/ssotest"
)

// An attacker's view of the app's one-time code flow, over HTTP on Redis with the real
// OpenID Provider: the app's state in the Location header, login CSRF through the callback,
// and one-time codes injected, replayed, raced or traded with the wrong things.

// attackProviders is appProviders plus "beta", a second provider that allows the same
// redirect URIs, to trade acme's codes with.
func attackProviders(op *ssotest.Provider) string {
	b, _ := json.Marshal([]sso.Config{
		{Name: "acme", Issuer: op.Issuer, ClientID: "authgraph", ClientSecret: "client-secret",
			ClientRedirectURIs: []string{ssoAppRedirect, appLoopback}, Provision: true},
		{Name: "beta", Issuer: op.Issuer, ClientID: "authgraph", ClientSecret: "client-secret",
			ClientRedirectURIs: []string{ssoAppRedirect, appLoopback}, Provision: true},
	})
	return string(b)
}

func TestSSOAppFlowAttacks(t *testing.T) {
	op := startSSOProvider(t)
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_SSO_PROVIDERS": attackProviders(op), "AUTHGRAPH_PUBLIC_URL": ssoPublicURL,
		"AUTHGRAPH_SIGNUP": "OPEN", "AUTHGRAPH_RATE_LIMITS": "sso:ip=1000/1m/1000"})
	verifier := strings.Repeat("v", 30) + "-attack-verifier-" + strings.Repeat("w", 10)
	redirect := "http://127.0.0.1:49152/callback"
	codes := func() int {
		n := 0
		for _, k := range prefixKeys(t, rs) {
			if strings.HasPrefix(k, rs.Prefix+"ac:") {
				n++
			}
		}
		return n
	}
	trade := func(provider, code, v, r string) *gqlResponse {
		q := strings.ReplaceAll(appCodeLogin, `provider: "acme"`, `provider: "`+provider+`"`)
		return srv.post(t, "", q, map[string]any{"c": code, "v": v, "r": r})
	}
	// alice's first sign-in provisions her, so that later flows sign her in.
	ok(t, "first trade", trade("acme", appFlow(t, srv, op, "alice", redirect, "", verifier).Query().Get("code"), verifier, redirect))

	t.Run("the app's state cannot add parameters or headers", func(t *testing.T) {
		// Printable, so allowed, and full of what a careless concatenation would trip on.
		state := `a&code=agc_evil&error=x&b="<script>'%0d%0aSet-Cookie:+x=y#frag/?;`
		back := appFlow(t, srv, op, "alice", redirect, state, verifier)
		q := back.Query()
		if q.Get("state") != state || len(q["code"]) != 1 || !strings.HasPrefix(q.Get("code"), "agc_") || q.Has("error") || q.Has("b") ||
			back.Fragment != "" || back.Host != "127.0.0.1:49152" {
			t.Fatalf("the callback sent the browser to %s", back)
		}
		ok(t, "trade", trade("acme", q.Get("code"), verifier, redirect))
		// Not printable ASCII, or too long: refused at the start.
		for _, bad := range []string{"a\r\nSet-Cookie: x=y", "a\nb", "a\x00b", "a\x7fb", "é", strings.Repeat("s", 513)} {
			r := srv.get(t, nil, appStart(redirect, bad, verifier))
			wantStatusCode(t, "state "+url.QueryEscape(bad), r, http.StatusBadRequest, "BAD_USER_INPUT")
			if r.Header.Get("Location") != "" || r.Header.Get("Set-Cookie") != "" {
				t.Errorf("state %q: %v", bad, r.Header)
			}
		}
	})

	t.Run("the provider's error answer is not reflected", func(t *testing.T) {
		b := newSSOBrowser(t, srv, op)
		r := srv.get(t, b.jar, appStart(redirect, "st", verifier))
		loc, _ := url.Parse(r.Header.Get("Location"))
		cb := b.callback("/auth/acme/callback?" + url.Values{"state": {loc.Query().Get("state")},
			"error": {"x\r\nLocation: https://evil.example/"}, "error_description": {"<script>alert(1)</script>"},
			"error_uri": {"https://evil.example/"}}.Encode())
		back, _ := url.Parse(cb.Header.Get("Location"))
		q := back.Query()
		if cb.Status != http.StatusSeeOther || !strings.HasPrefix(back.String(), redirect+"?") || q.Get("error") != "access_denied" ||
			q.Has("error_description") || q.Has("error_uri") || q.Get("state") != "st" || q.Has("code") {
			t.Errorf("the provider's error: %d, to %s", cb.Status, back)
		}
		if strings.Contains(cb.Raw, "<script>") || strings.Contains(cb.Header.Get("Location"), "evil") {
			t.Errorf("reflected: %v %s", cb.Header, cb.Raw)
		}
	})

	t.Run("login CSRF: a flow started by someone else is not finished in the victim's browser", func(t *testing.T) {
		before := codes()
		// mallory starts an app flow in her browser with her challenge, and has alice sign in
		// at the provider with it (a link she sent); alice's browser reaches the callback.
		mallory := newSSOBrowser(t, srv, op)
		r := srv.get(t, mallory.jar, appStart(redirect, "mallory-state", verifier))
		alice := newSSOBrowser(t, srv, op)
		path := alice.toProvider(r.Header.Get("Location"), "alice")
		cb := alice.callback(path)
		wantStatusCode(t, "alice's browser, mallory's flow", cb, http.StatusUnauthorized, "INVALID_CREDENTIALS")
		if loc := cb.Header.Get("Location"); loc != "" {
			t.Errorf("sent to %s", loc)
		}
		// Nor with a binding of alice's own flow.
		srv.get(t, alice.jar, appStart(redirect, "alice-state", verifier))
		r = srv.get(t, mallory.jar, appStart(redirect, "mallory-state", verifier))
		cb = alice.callback(alice.toProvider(r.Header.Get("Location"), "alice"))
		wantStatusCode(t, "alice's binding, mallory's flow", cb, http.StatusUnauthorized, "INVALID_CREDENTIALS")
		// The state is spent: mallory cannot finish it herself afterwards.
		wantStatusCode(t, "mallory after alice", mallory.callback(path), http.StatusUnauthorized, "INVALID_CREDENTIALS")
		if n := codes(); n != before {
			t.Errorf("refused callbacks stored %d one-time codes", n-before)
		}
	})

	t.Run("a code is spent by anything that is not its own trade", func(t *testing.T) {
		long := strings.Repeat("L", 129) // a verifier RFC 7636 does not allow, S256 or not
		short := strings.Repeat("S", 42)
		for what, c := range map[string]struct {
			verifier, provider, redirect, start string
			mangle                              func(string) string
		}{
			"another provider":                          {provider: "beta"},
			"another port":                              {redirect: "http://127.0.0.1:49153/callback"},
			"the other loopback address":                {redirect: "http://[::1]:49152/callback"},
			"the redirect with a zero-padded port":      {redirect: "http://127.0.0.1:049152/callback"},
			"the redirect without its port":             {redirect: appLoopback},
			"the challenge as the verifier (plain)":     {verifier: s256(verifier)},
			"a 129-character verifier of the challenge": {verifier: long, start: long},
			"a 42-character verifier of the challenge":  {verifier: short, start: short},
			"a verifier with one more character":        {verifier: verifier + "x"},
			"a verifier one character short":            {verifier: verifier[:len(verifier)-1]},
		} {
			start := verifier
			if c.start != "" {
				start = c.start
			}
			code := appFlow(t, srv, op, "alice", redirect, "", start).Query().Get("code")
			v, p, r := cmpOr(c.verifier, start), cmpOr(c.provider, "acme"), cmpOr(c.redirect, redirect)
			wantGQLCode(t, what, trade(p, code, v, r), "INVALID_CREDENTIALS")
			// Spent: the right trade is refused too.
			wantGQLCode(t, what+", then the right trade", trade("acme", code, start, redirect), "INVALID_CREDENTIALS")
		}
		if n := codes(); n != 0 {
			t.Errorf("%d codes left after their trades", n)
		}
	})

	t.Run("a code is not a provider's code, nor the other way", func(t *testing.T) {
		code := appFlow(t, srv, op, "alice", redirect, "", verifier).Query().Get("code")
		for what, c := range map[string]string{
			"without its prefix":      strings.TrimPrefix(code, "agc_"),
			"with its prefix in caps": "AGC_" + strings.TrimPrefix(code, "agc_"),
			"with a character more":   code + "A",
			"with its last changed":   code[:len(code)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(code, "A")],
		} {
			if r := trade("acme", c, verifier, redirect); r.code() != "INVALID_CREDENTIALS" && r.code() != "BAD_USER_INPUT" {
				t.Errorf("%s: %s", what, r.Raw)
			}
		}
		ok(t, "the code itself", trade("acme", code, verifier, redirect))
	})

	t.Run("concurrent trades of one code: one session", func(t *testing.T) {
		code := appFlow(t, srv, op, "alice", redirect, "", verifier).Query().Get("code")
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := trade("acme", code, verifier, redirect)
				if r.code() == "" {
					mu.Lock()
					won++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Errorf("%d of 8 concurrent trades of one code got a session", won)
		}
	})

	t.Run("cookie-flow and app parameters do not mix", func(t *testing.T) {
		// A path redirect is returnTo: the app's state and challenge are ignored, and the
		// browser (not an app) is signed in, back on this site.
		b := newSSOBrowser(t, srv, op)
		q := url.Values{"redirect": {"/account"}, "state": {"app"}, "code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}}
		r := srv.get(t, b.jar, "/auth/acme/start?"+q.Encode())
		cb := b.callback(b.toProvider(r.Header.Get("Location"), "alice"))
		if cb.Status != http.StatusSeeOther || cb.Header.Get("Location") != "/account" {
			t.Errorf("redirect=/account: %d to %s", cb.Status, cb.Header.Get("Location"))
		}
		for what, q := range map[string]url.Values{
			"returnTo and an app redirect": {"returnTo": {"/account"}, "redirect": {redirect}, "code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}},
			"an absolute returnTo":         {"returnTo": {redirect}},
			"a protocol-relative redirect": {"redirect": {"//evil.example/x"}},
			"a backslash redirect":         {"redirect": {`/\evil.example/x`}},
		} {
			wantStatusCode(t, what, srv.get(t, nil, "/auth/acme/start?"+q.Encode()), http.StatusBadRequest, "BAD_USER_INPUT")
		}
	})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
