package main

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authgraph/authgraph/internal/sso"
	"github.com/authgraph/authgraph/internal/sso/ssotest"
)

// TestAccountPageSSOInChromium: in a real headless Chromium, alice signs in with her password
// on /account, links her account at a real OpenID Provider (zitadel's op, in-process) with
// "Link Acme ID" and the provider's login page, sees it listed, signs out, signs in again with
// "Sign in with Acme ID" alone, and unlinks it; then does the same with GitHub (an in-process
// GitHub, ssotest.GitHub), whose button the page shows next to Acme ID's.
func TestAccountPageSSOInChromium(t *testing.T) {
	ctx := newBrowser(t)
	// The provider redirects the browser to the public URL, which must be the server's real
	// address here: take a free port and give it to the server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	op := ssotest.Start(t, ssotest.Client{ID: "authgraph", Secret: "client-secret", RedirectURIs: []string{base + "/auth/acme/callback"}})
	op.AddUser(ssotest.User{ID: "sub-alice", Username: "alice", Email: "alice@example.com", EmailVerified: true})
	gh := ssotest.StartGitHub(t, "gh-client", "gh-secret")
	gh.AddUser(ssotest.GitHubUser{ID: 1001, Login: "alice-gh", Emails: []ssotest.GitHubEmail{{Email: "alice@example.com", Primary: true, Verified: true}}})
	gh.SignInAs("alice-gh")
	var providers []sso.Config
	_ = json.Unmarshal([]byte(ssoProviders(op, false)), &providers)
	providers = append(providers, sso.Config{Name: "github", DisplayName: "GitHub", Type: sso.TypeGitHub, ClientID: "gh-client",
		ClientSecret: "gh-secret", AuthURL: gh.AuthURL, TokenURL: gh.TokenURL, APIURL: gh.API})
	pj, _ := json.Marshal(providers)
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_ADDR": addr, "AUTHGRAPH_PUBLIC_URL": base,
		"AUTHGRAPH_SSO_PROVIDERS": string(pj), "AUTHGRAPH_RATE_LIMITS": "sso:ip=1000/1m/1000"})
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "alice", "alice-password-for-tests")

	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		t.Logf("page: %s", what)
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Run(sctx, actions...); err != nil {
			var state, url string
			_ = chromedp.Run(ctx, chromedp.Location(&url), chromedp.Evaluate(`(document.getElementById("status") || {}).textContent +
				" | " + (document.getElementById("error") || {}).textContent`, &state))
			t.Logf("at %s: %s", url, state)
			screenshot(t, ctx, "account-sso-failure.png")
			t.Fatalf("%s: %v", what, err)
		}
	}
	atProvider := func(what string) {
		t.Helper()
		run(what+": the provider's login page",
			chromedp.WaitVisible(`input[name="username"]`, chromedp.ByQuery),
			chromedp.SendKeys(`input[name="username"]`, "alice", chromedp.ByQuery),
			chromedp.SendKeys(`input[name="password"]`, ssotest.Password, chromedp.ByQuery),
			chromedp.Click(`button[type="submit"]`, chromedp.ByQuery),
		)
	}
	var text string

	run("sign in with the password",
		chromedp.Navigate(srv.URL+"/account"),
		chromedp.WaitVisible("#username", chromedp.ByID),
		chromedp.WaitVisible("#providers", chromedp.ByID),
		chromedp.Text("#provider-links", &text, chromedp.ByID),
	)
	if !strings.Contains(text, "Sign in with Acme ID") || !strings.Contains(text, "Sign in with GitHub") {
		t.Fatalf("sign-in view offers %q", text)
	}
	run("sign in",
		chromedp.SendKeys("#username", "alice", chromedp.ByID),
		chromedp.SendKeys("#password", "alice-password-for-tests", chromedp.ByID),
		chromedp.Click("#signin-submit", chromedp.ByID),
		chromedp.WaitVisible("#identities", chromedp.ByID),
		chromedp.WaitVisible("#no-identities", chromedp.ByID),
		chromedp.Click("#link-buttons button", chromedp.ByQuery),
	)
	atProvider("link")
	run("back on the page, linked",
		chromedp.WaitVisible("#identities-table", chromedp.ByID),
		chromedp.Text("#identities-table", &text, chromedp.ByID),
	)
	if !strings.Contains(text, "Acme ID") || !strings.Contains(text, "alice@example.com") {
		t.Fatalf("identities shown: %q", text)
	}
	screenshot(t, ctx, "account-sso-linked.png")

	run("sign out, then sign in with the provider",
		chromedp.Click("#signout", chromedp.ByID),
		chromedp.WaitVisible("#providers", chromedp.ByID),
		chromedp.Click("#provider-links a", chromedp.ByQuery),
	)
	atProvider("sign in")
	run("back on the page, signed in",
		chromedp.WaitVisible("#account", chromedp.ByID),
		chromedp.Text("#current-user", &text, chromedp.ByID),
	)
	if text != "alice" {
		t.Fatalf("signed in as %q", text)
	}
	var cookies string
	run("the session is in an HttpOnly cookie", chromedp.Evaluate(`document.cookie`, &cookies))
	if cookies != "" {
		t.Fatalf("cookies readable by scripts: %q", cookies)
	}
	run("unlink",
		chromedp.WaitVisible("#identities-table button", chromedp.ByQuery),
		chromedp.Click("#identities-table button", chromedp.ByQuery),
		chromedp.WaitVisible("#no-identities", chromedp.ByID),
	)
	me := ok(t, "me", srv.post(t, admin, `{ users { nodes { username identities { provider } } } }`, nil))
	if strings.Contains(me.Raw, `"provider":"acme"`) {
		t.Errorf("still linked after the page unlinked: %s", me.Raw)
	}

	// GitHub: its button links at once (this GitHub signs alice in without a page), and then
	// signs her in alone.
	run("link GitHub",
		chromedp.Text("#link-buttons", &text, chromedp.ByID),
		chromedp.Click(`#link-buttons li:nth-child(2) button`, chromedp.ByQuery),
		chromedp.WaitVisible("#identities-table", chromedp.ByID),
		chromedp.Text("#identities-table", &text, chromedp.ByID),
	)
	if !strings.Contains(text, "GitHub") || !strings.Contains(text, "alice@example.com") {
		t.Fatalf("identities shown after linking GitHub: %q", text)
	}
	run("sign out, then sign in with GitHub",
		chromedp.Click("#signout", chromedp.ByID),
		chromedp.WaitVisible("#providers", chromedp.ByID),
		chromedp.Click(`#provider-links li:nth-child(2) a`, chromedp.ByQuery),
		chromedp.WaitVisible("#account", chromedp.ByID),
		chromedp.Text("#current-user", &text, chromedp.ByID),
	)
	if text != "alice" {
		t.Fatalf("signed in with GitHub as %q", text)
	}
	if gh.Requests("/api/v3/user") < 2 {
		t.Errorf("GitHub's API was asked %d times, want one per flow", gh.Requests("/api/v3/user"))
	}
}
