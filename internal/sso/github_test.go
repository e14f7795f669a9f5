package sso_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/sso"
	"github.com/authgraph/authgraph/internal/sso/ssotest"
)

func setupGitHub(t *testing.T) (*ssotest.GitHub, sso.Provider) {
	t.Helper()
	gh := ssotest.StartGitHub(t, "gh-client", "gh-secret")
	gh.AddUser(ssotest.GitHubUser{ID: 4242, Login: "alice", Emails: []ssotest.GitHubEmail{
		{Email: "old@example.com", Verified: true},
		{Email: "alice@example.com", Primary: true, Verified: true},
	}})
	gh.AddUser(ssotest.GitHubUser{ID: 666, Login: "mallory", Emails: []ssotest.GitHubEmail{
		{Email: "alice@example.com", Primary: true, Verified: false},
	}})
	gh.AddUser(ssotest.GitHubUser{ID: 77, Login: "app-user", NoEmailScope: true})
	p, err := sso.New(githubConfig(gh, "gh-secret"), public, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return gh, p
}

func githubConfig(gh *ssotest.GitHub, secret string) sso.Config {
	return sso.Config{Name: "github", Type: sso.TypeGitHub, ClientID: "gh-client", ClientSecret: secret,
		AuthURL: gh.AuthURL, TokenURL: gh.TokenURL, APIURL: gh.API, ClientRedirectURIs: []string{"http://127.0.0.1/cli"}}
}

// ghSignIn runs the browser's part as login and answers the code.
func ghSignIn(t *testing.T, gh *ssotest.GitHub, p sso.Provider, login, state string) string {
	t.Helper()
	u, err := p.AuthURL(t.Context(), state, "ignored-nonce", verifier)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.Parse(u)
	if got := q.Query(); got.Get("code_challenge_method") != "S256" || got.Get("code_challenge") == "" || got.Get("nonce") != "" ||
		got.Get("redirect_uri") != "http://127.0.0.1:9/auth/github/callback" || got.Get("scope") != "user:email" || got.Get("state") != state {
		t.Fatalf("authorization URL %s lacks PKCE S256, the state, the scope or the callback, or sends a nonce", u)
	}
	gh.SignInAs(login)
	back, err := gh.Authorize(u)
	if err != nil {
		t.Fatal(err)
	}
	if back.Query().Get("state") != state || back.Query().Get("code") == "" {
		t.Fatalf("GitHub came back to %s", back)
	}
	return back.Query().Get("code")
}

func TestGitHubCodeFlow(t *testing.T) {
	gh, p := setupGitHub(t)
	code := ghSignIn(t, gh, p, "alice", "st")
	id, err := p.Exchange(t.Context(), code, verifier, "", "")
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	// The numeric id, and the primary verified address (not the first verified one, nor the
	// public profile email).
	if id != (auth.SSOIdentity{Subject: "4242", Email: "alice@example.com", EmailVerified: true}) {
		t.Errorf("identity = %+v", id)
	}
	_, err = p.Exchange(t.Context(), code, verifier, "", "")
	wantRejected(t, "a used code", err)

	// An unverified address is no verified email.
	id, err = p.Exchange(t.Context(), ghSignIn(t, gh, p, "mallory", "s2"), verifier, "", "")
	if err != nil || id.Subject != "666" || id.EmailVerified {
		t.Errorf("mallory: %+v, %v; want subject 666, email not verified", id, err)
	}
	// No access to the emails: no email at all, and still a sign-in.
	id, err = p.Exchange(t.Context(), ghSignIn(t, gh, p, "app-user", "s3"), verifier, "", "")
	if err != nil || id != (auth.SSOIdentity{Subject: "77"}) {
		t.Errorf("without user:email: %+v, %v", id, err)
	}
}

func TestGitHubRefusals(t *testing.T) {
	gh, p := setupGitHub(t)
	code := ghSignIn(t, gh, p, "alice", "s1")
	_, err := p.Exchange(t.Context(), code, strings.Repeat("w", 52), "", "")
	wantRejected(t, "another verifier", err)
	// The code was spent by the failed try.
	_, err = p.Exchange(t.Context(), code, verifier, "", "")
	wantRejected(t, "the code after a wrong verifier", err)

	code = ghSignIn(t, gh, p, "alice", "s2")
	_, err = p.Exchange(t.Context(), code+"x", verifier, "", "")
	wantRejected(t, "a tampered code", err)

	wrongSecret, _ := sso.New(githubConfig(gh, "not-the-secret"), public, nil, nil)
	_, err = wrongSecret.Exchange(t.Context(), ghSignIn(t, gh, p, "alice", "s3"), verifier, "", "")
	wantRejected(t, "a wrong client secret", err)
	if err != nil && !strings.Contains(err.Error(), "incorrect_client_credentials") {
		t.Errorf("the token endpoint's error code is not in %q", err)
	}

	_, err = p.Exchange(t.Context(), ghSignIn(t, gh, p, "alice", "s4"), verifier, "http://127.0.0.1/cli", "")
	wantRejected(t, "another redirect URI than the authorization's", err)
}

func TestGitHubDownIsUnavailable(t *testing.T) {
	gh, p := setupGitHub(t)
	code := ghSignIn(t, gh, p, "alice", "s")
	gh.SetAPIDown(true)
	_, err := p.Exchange(t.Context(), code, verifier, "", "")
	if !errors.Is(err, auth.ErrUnavailable) || errors.Is(err, auth.ErrExternalTokenRejected) {
		t.Errorf("Exchange with the API down: %v, want ErrUnavailable", err)
	}
	gh.SetAPIDown(false)
	code = ghSignIn(t, gh, p, "alice", "s2")
	gh.SetDown(true)
	if _, err := p.Exchange(t.Context(), code, verifier, "", ""); !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("Exchange with the token endpoint down: %v, want ErrUnavailable", err)
	}
	gh.SetDown(false)
	code = ghSignIn(t, gh, p, "alice", "s3")
	gh.SetDelay(2 * time.Second)
	slow, _ := sso.New(p.Config(), public, &http.Client{Timeout: 200 * time.Millisecond}, nil)
	began := time.Now()
	if _, err := slow.Exchange(t.Context(), code, verifier, "", ""); !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("Exchange with a slow GitHub: %v, want ErrUnavailable", err)
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("gave up after %v", d)
	}
}

func TestGitHubParse(t *testing.T) {
	cfgs, err := sso.Parse(`[{"name":"github","type":"github","client_id":"c","client_secret":"s"}]`)
	if err != nil {
		t.Fatal(err)
	}
	p, err := sso.New(cfgs[0], "https://auth.example", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Config(); c.AuthURL != sso.GitHubAuthURL || c.TokenURL != sso.GitHubTokenURL || c.APIURL != sso.GitHubAPIURL {
		t.Errorf("defaults: %+v", c)
	}
	for _, bad := range []string{
		`[{"name":"github","type":"github","client_id":"c","issuer":"https://github.com"}]`,
		`[{"name":"github","type":"github","client_id":"c","api_url":"http://ghe.example/api/v3"}]`,
		`[{"name":"github","type":"gitlab","client_id":"c"}]`,
		`[{"name":"acme","issuer":"https://id.example.com","client_id":"c","token_url":"https://id.example.com/t"}]`,
	} {
		if _, err := sso.Parse(bad); err == nil {
			t.Errorf("Parse(%s) accepted it", bad)
		}
	}
}

// TestAllowsRedirect: exact matches, and the loopback rule of RFC 8252 (any port on an IP
// literal, never on "localhost").
func TestAllowsRedirect(t *testing.T) {
	p, err := sso.New(sso.Config{Name: "acme", Issuer: "https://id.example", ClientID: "c", ClientRedirectURIs: []string{
		"https://app.example/cb", "http://127.0.0.1/callback", "http://[::1]:8000/callback", "http://localhost/cb", "com.example.app:/oauth2redirect",
	}}, public, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for uri, want := range map[string]bool{
		"https://app.example/cb":            true,
		"com.example.app:/oauth2redirect":   true,
		"http://127.0.0.1/callback":         true,
		"http://127.0.0.1:49152/callback":   true,
		"http://[::1]:49152/callback":       true,
		"http://[::1]/callback":             true,
		"http://localhost/cb":               true, // listed exactly
		"":                                  false,
		"https://app.example/cb2":           false,
		"https://app.example:8443/cb":       false, // ports are free on loopback only
		"http://localhost:49152/cb":         false, // not loopback (RFC 8252 section 8.3)
		"http://127.0.0.1:49152/other":      false,
		"http://127.0.0.1:49152/callback?x": false,
		"http://127.0.0.2:49152/callback":   false,
		"https://127.0.0.1:49152/callback":  false,
		"http://u@127.0.0.1:1/callback":     false,
		"http://127.0.0.1:0/callback":       false,
		"http://127.0.0.1:65536/callback":   false,
		"http://127.0.0.1:1/callback#f":     false,
		// One canonical spelling: what is checked is what is stored and sent.
		"http://127.0.0.1:049152/callback": false,
		"HTTP://127.0.0.1:49152/callback":  false,
		"http://127.0.0.1:/callback":       false,
		"http://127.0.0.1:1/callback#":     false,
	} {
		if got := p.AllowsRedirect(uri); got != want {
			t.Errorf("AllowsRedirect(%q) = %v, want %v", uri, got, want)
		}
	}
}
