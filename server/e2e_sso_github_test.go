package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/authgraph/authgraph/internal/sso"
	"github.com/authgraph/authgraph/internal/sso/ssotest"
)

// "Sign in with GitHub" end to end: the real server on Redis, an in-process GitHub
// (ssotest.GitHub: its OAuth endpoints and REST API on a real listener) and an OpenID
// Provider side by side, so that alice's local user, made by her first sign-in through the
// OpenID Provider with a verified address, is what GitHub's verified address links to.

func githubProviders(op *ssotest.Provider, gh *ssotest.GitHub) string {
	b, _ := json.Marshal([]sso.Config{
		{Name: "acme", DisplayName: "Acme ID", Issuer: op.Issuer, ClientID: "authgraph", ClientSecret: "client-secret", Provision: true},
		{Name: "github", DisplayName: "GitHub", Type: sso.TypeGitHub, ClientID: "gh-client", ClientSecret: "gh-secret",
			AuthURL: gh.AuthURL, TokenURL: gh.TokenURL, APIURL: gh.API, ClientRedirectURIs: []string{ssoAppRedirect, appLoopback},
			LinkByVerifiedEmail: true},
	})
	return string(b)
}

func startGitHub(t *testing.T) *ssotest.GitHub {
	gh := ssotest.StartGitHub(t, "gh-client", "gh-secret")
	gh.AddUser(ssotest.GitHubUser{ID: 1001, Login: "alice-gh", Emails: []ssotest.GitHubEmail{{Email: "alice@example.com", Primary: true, Verified: true}}})
	gh.AddUser(ssotest.GitHubUser{ID: 2002, Login: "mallory-gh", Emails: []ssotest.GitHubEmail{{Email: "alice@example.com", Primary: true, Verified: false}}})
	return gh
}

// ghStart follows /auth/github/start through GitHub as login, and answers the callback path.
func ghStart(t *testing.T, srv *testServer, gh *ssotest.GitHub, b *browser, login, query string) string {
	t.Helper()
	r := srv.get(t, b.jar, "/auth/github/start"+query)
	if r.Status != http.StatusFound {
		t.Fatalf("start: %d %s", r.Status, r.Raw)
	}
	gh.SignInAs(login)
	back, err := gh.Authorize(r.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(back.String(), ssoPublicURL+"/auth/github/callback?") {
		t.Fatalf("GitHub sent the browser to %s", back)
	}
	return strings.TrimPrefix(back.String(), ssoPublicURL)
}

func TestSSOGitHub(t *testing.T) {
	op := startSSOProvider(t)
	gh := startGitHub(t)
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_SSO_PROVIDERS": githubProviders(op, gh), "AUTHGRAPH_PUBLIC_URL": ssoPublicURL,
		"AUTHGRAPH_SIGNUP": "OPEN", "AUTHGRAPH_RATE_LIMITS": "sso:ip=1000/1m/1000"})
	admin := srv.login(t, adminName, adminPass)
	users := func() string {
		return ok(t, "users", srv.post(t, admin, `{ users { nodes { username } } }`, nil)).Raw
	}
	r := srv.post(t, "", `{ signInProviders { name displayName } }`, nil)
	if !strings.Contains(r.Raw, `{"name":"github","displayName":"GitHub"}`) {
		t.Errorf("signInProviders: %s", r.Raw)
	}

	// Before alice has a user, GitHub's verified address links to nobody (no provisioning).
	b := newSSOBrowser(t, srv, op)
	wantStatusCode(t, "GitHub before any user", b.callback(ghStart(t, srv, gh, b, "alice-gh", "")), http.StatusForbidden, "IDENTITY_NOT_LINKED")
	// Her first sign-in through the OpenID Provider makes her user, address verified.
	if r := b.callback(b.start("alice", "")); r.Status != http.StatusSeeOther {
		t.Fatalf("provisioning sign-in: %d %s", r.Status, r.Raw)
	}

	t.Run("an unverified address never links", func(t *testing.T) {
		b := newSSOBrowser(t, srv, op)
		wantStatusCode(t, "mallory at GitHub with alice's unverified address", b.callback(ghStart(t, srv, gh, b, "mallory-gh", "")),
			http.StatusForbidden, "IDENTITY_NOT_LINKED")
	})

	t.Run("a verified address links", func(t *testing.T) {
		b := newSSOBrowser(t, srv, op)
		path := ghStart(t, srv, gh, b, "alice-gh", "?returnTo=/account")
		cb := b.callback(path)
		if cb.Status != http.StatusSeeOther || cb.Header.Get("Location") != "/account" {
			t.Fatalf("callback: %d %v %s", cb.Status, cb.Header, cb.Raw)
		}
		me := b.me()
		// The subject is GitHub's numeric id, not the login.
		if !strings.Contains(me.Raw, `"username":"alice@example.com"`) || !strings.Contains(me.Raw, `{"provider":"github","subject":"1001"`) {
			t.Errorf("me: %s", me.Raw)
		}
		wantStatusCode(t, "the same callback again (state spent)", b.callback(path), http.StatusUnauthorized, "INVALID_CREDENTIALS")
		u, _ := url.Parse(path)
		if strings.Contains(srv.logs.String(), u.Query().Get("code")) {
			t.Errorf("GitHub's code reached the log")
		}
	})

	t.Run("state mismatch", func(t *testing.T) {
		b := newSSOBrowser(t, srv, op)
		path := ghStart(t, srv, gh, b, "alice-gh", "")
		u, _ := url.Parse(path)
		q := u.Query()
		q.Set("state", q.Get("state")+"x")
		u.RawQuery = q.Encode()
		wantStatusCode(t, "another state", b.callback(u.String()), http.StatusUnauthorized, "INVALID_CREDENTIALS")
		wantStatusCode(t, "a made-up state", b.callback("/auth/github/callback?state=made-up&code=c"), http.StatusUnauthorized, "INVALID_CREDENTIALS")
	})

	t.Run("GitHub down", func(t *testing.T) {
		before := users()
		b := newSSOBrowser(t, srv, op)
		path := ghStart(t, srv, gh, b, "alice-gh", "")
		gh.SetAPIDown(true)
		defer gh.SetAPIDown(false)
		r := b.callback(path)
		wantStatusCode(t, "callback with GitHub's API down", r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
		if after := users(); after != before {
			t.Errorf("users changed with GitHub down:\n%s\n%s", before, after)
		}
	})

	t.Run("an app trades a GitHub code", func(t *testing.T) {
		verifier := strings.Repeat("g", 50)
		conf := oauth2.Config{ClientID: "gh-client", RedirectURL: ssoAppRedirect, Endpoint: oauth2.Endpoint{AuthURL: gh.AuthURL}}
		code := func() string {
			gh.SignInAs("alice-gh")
			back, err := gh.Authorize(conf.AuthCodeURL("app-state", oauth2.S256ChallengeOption(verifier)))
			if err != nil {
				t.Fatal(err)
			}
			return back.Query().Get("code")
		}
		ghLogin := strings.ReplaceAll(codeLogin, `provider: "acme"`, `provider: "github"`)
		c := code()
		r := ok(t, "createSessionUsingAuthorizationCode with a GitHub code", srv.post(t, "", ghLogin, map[string]any{"c": c, "v": verifier, "r": ssoAppRedirect}))
		if me := srv.post(t, r.str(t, "createSessionUsingAuthorizationCode.token"), `{ me { username } }`, nil); !strings.Contains(me.Raw, "alice@example.com") {
			t.Errorf("me: %s", me.Raw)
		}
		wantGQLCode(t, "the GitHub code again", srv.post(t, "", ghLogin, map[string]any{"c": c, "v": verifier, "r": ssoAppRedirect}), "INVALID_CREDENTIALS")
		wantGQLCode(t, "a wrong verifier", srv.post(t, "", ghLogin, map[string]any{"c": code(), "v": strings.Repeat("w", 50), "r": ssoAppRedirect}), "INVALID_CREDENTIALS")
		c = code()
		gh.SetAPIDown(true)
		defer gh.SetAPIDown(false)
		wantStatusCode(t, "GitHub's API down", srv.post(t, "", ghLogin, map[string]any{"c": c, "v": verifier, "r": ssoAppRedirect}),
			http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	})

	t.Run("an app runs authgraph's flow with GitHub", func(t *testing.T) {
		verifier := strings.Repeat("h", 50)
		redirect := "http://127.0.0.1:40000/callback"
		b := newSSOBrowser(t, srv, op)
		q := "?" + url.Values{"redirect": {redirect}, "state": {"st"}, "code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}}.Encode()
		cb := b.callback(ghStart(t, srv, gh, b, "alice-gh", q))
		back, _ := url.Parse(cb.Header.Get("Location"))
		if cb.Status != http.StatusSeeOther || back.Query().Get("state") != "st" {
			t.Fatalf("callback: %d %s", cb.Status, back)
		}
		ghLogin := strings.ReplaceAll(appCodeLogin, `provider: "acme"`, `provider: "github"`)
		ok(t, "trade", srv.post(t, "", ghLogin, map[string]any{"c": back.Query().Get("code"), "v": verifier, "r": redirect}))
	})
}

// TestSSOGitHubSecretsNotLogged: a token endpoint that fails with a 5xx whose body echoes the
// request (a proxy's or a gateway's error page does) must not put the client secret, GitHub's
// code or the PKCE verifier in the log, at any level; nor must a refusal's description.
func TestSSOGitHubSecretsNotLogged(t *testing.T) {
	op := startSSOProvider(t)
	gh := startGitHub(t)
	var mu sync.Mutex
	var seen []string // what the token endpoint received
	status := http.StatusBadGateway
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, string(b))
		st := status
		mu.Unlock()
		if st == http.StatusOK {
			// A refusal that describes itself with what it was sent.
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "bad_verification_code", "error_description": "refused " + string(b)})
			return
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(st)
		fmt.Fprintf(w, "<h1>Bad gateway</h1><pre>POST %s\n%s</pre>", r.URL, b)
	}))
	t.Cleanup(echo.Close)
	b, _ := json.Marshal([]sso.Config{{Name: "github", Type: sso.TypeGitHub, ClientID: "gh-client", ClientSecret: "gh-secret-never-logged",
		AuthURL: gh.AuthURL, TokenURL: echo.URL + "/login/oauth/access_token", APIURL: gh.API}})
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_SSO_PROVIDERS": string(b), "AUTHGRAPH_PUBLIC_URL": ssoPublicURL,
		"AUTHGRAPH_RATE_LIMITS": "sso:ip=1000/1m/1000"})
	for _, st := range []int{http.StatusBadGateway, http.StatusInternalServerError, http.StatusOK} {
		mu.Lock()
		status = st
		mu.Unlock()
		br := newSSOBrowser(t, srv, op)
		r := br.callback(ghStart(t, srv, gh, br, "alice-gh", ""))
		if st == http.StatusOK {
			wantStatusCode(t, "a refusal", r, http.StatusUnauthorized, "INVALID_CREDENTIALS")
		} else {
			wantStatusCode(t, fmt.Sprint("token endpoint ", st), r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Fatalf("the token endpoint got %d requests", len(seen))
	}
	logs := srv.logs.String()
	for _, body := range seen {
		form, _ := url.ParseQuery(body)
		for _, k := range []string{"client_secret", "code", "code_verifier"} {
			if v := form.Get(k); v == "" || strings.Contains(logs, v) {
				t.Errorf("%s %q is in the log (or was not sent)", k, v)
			}
		}
	}
	if !strings.Contains(logs, "502") {
		t.Errorf("the log does not say what the token endpoint answered:\n%s", logs)
	}
}

// TestSSOGitHubIdentityConfusion: the subject is GitHub's numeric id, whatever the login
// says; an id that is not a positive integer signs nobody in; an unverified address never
// links, nor provisions; and a GitHub too slow to answer makes no user.
func TestSSOGitHubIdentityConfusion(t *testing.T) {
	op := startSSOProvider(t)
	gh := startGitHub(t)
	// A login that is alice's numeric id, one that is her login with another case, ids that
	// are not positive, and a verified address that is not primary next to an unverified
	// primary one.
	gh.AddUser(ssotest.GitHubUser{ID: 3003, Login: "1001"})
	gh.AddUser(ssotest.GitHubUser{ID: 3004, Login: "Alice-GH"})
	gh.AddUser(ssotest.GitHubUser{ID: 0, Login: "zero"})
	gh.AddUser(ssotest.GitHubUser{ID: -1001, Login: "negative"})
	gh.AddUser(ssotest.GitHubUser{ID: 3005, Login: "unverified-new", Emails: []ssotest.GitHubEmail{{Email: "new@example.com", Primary: true}}})
	b, _ := json.Marshal([]sso.Config{
		{Name: "acme", Issuer: op.Issuer, ClientID: "authgraph", ClientSecret: "client-secret", Provision: true},
		{Name: "github", Type: sso.TypeGitHub, ClientID: "gh-client", ClientSecret: "gh-secret",
			AuthURL: gh.AuthURL, TokenURL: gh.TokenURL, APIURL: gh.API, LinkByVerifiedEmail: true, Provision: true},
	})
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_SSO_PROVIDERS": string(b), "AUTHGRAPH_PUBLIC_URL": ssoPublicURL,
		"AUTHGRAPH_SIGNUP": "OPEN", "AUTHGRAPH_RATE_LIMITS": "sso:ip=1000/1m/1000"})
	admin := srv.login(t, adminName, adminPass)
	users := func() string {
		return ok(t, "users", srv.post(t, admin, `{ users { nodes { username } } }`, nil)).Raw
	}
	// alice's user, her address verified (provisioned by acme), linked to GitHub 1001.
	alice := newSSOBrowser(t, srv, op)
	if r := alice.callback(alice.start("alice", "")); r.Status != http.StatusSeeOther {
		t.Fatalf("alice through acme: %d %s", r.Status, r.Raw)
	}
	if r := alice.callback(ghStart(t, srv, gh, alice, "alice-gh", "")); r.Status != http.StatusSeeOther {
		t.Fatalf("alice through GitHub: %d %s", r.Status, r.Raw)
	}
	before := users()
	for login, code := range map[string]string{
		"1001": "IDENTITY_NOT_LINKED", "Alice-GH": "IDENTITY_NOT_LINKED", "zero": "INVALID_CREDENTIALS",
		"negative": "INVALID_CREDENTIALS", "mallory-gh": "IDENTITY_NOT_LINKED", "unverified-new": "IDENTITY_NOT_LINKED",
	} {
		br := newSSOBrowser(t, srv, op)
		r := br.callback(ghStart(t, srv, gh, br, login, ""))
		if r.code() != code {
			t.Errorf("GitHub login %q: %d %s, want %s", login, r.Status, r.Raw, code)
		}
		if strings.Contains(br.me().Raw, "alice@example.com") {
			t.Errorf("GitHub login %q signed in as alice", login)
		}
	}
	if after := users(); after != before {
		t.Errorf("users changed:\n%s\n%s", before, after)
	}

	t.Run("GitHub slower than the timeout", func(t *testing.T) {
		br := newSSOBrowser(t, srv, op)
		path := ghStart(t, srv, gh, br, "alice-gh", "")
		gh.SetDelay(sso.DefaultHTTPTimeout + time.Second)
		defer gh.SetDelay(0)
		began := time.Now()
		r := br.callback(path)
		wantStatusCode(t, "slow GitHub", r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
		if d := time.Since(began); d > sso.DefaultHTTPTimeout+2*time.Second {
			t.Errorf("the callback took %v", d)
		}
		if after := users(); after != before {
			t.Errorf("users changed:\n%s\n%s", before, after)
		}
		if strings.Contains(br.me().Raw, "alice@example.com") {
			t.Errorf("signed in")
		}
	})
}
