package ssotest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// GitHub answers GitHub's OAuth and REST endpoints on a loopback listener, as github.com does
// for an OAuth app: /login/oauth/authorize (signs the chosen user in at once and redirects
// back with a code), /login/oauth/access_token (checks the client secret, the code, the
// redirect URI and the PKCE verifier against the challenge; JSON when asked with Accept:
// application/json, else form encoded; errors as 200 with an "error" field, as GitHub does),
// and GET /user and GET /user/emails, which require the access token as a bearer token.
type GitHub struct {
	// URL is the base of every endpoint: AuthURL, TokenURL and APIURL are under it.
	URL                    string
	AuthURL, TokenURL, API string
	ClientID, Secret       string

	srv *httptest.Server

	mu    sync.Mutex
	users map[string]*GitHubUser // by login
	codes map[string]ghCode
	// tokens: access token → login.
	tokens map[string]string
	// next is the login that the next authorization signs in as.
	next  string
	down  bool
	apiDn bool
	delay time.Duration
	// Requests counts requests by path, so that tests can see what was asked.
	requests map[string]int
}

// GitHubUser is an account at the fake GitHub.
type GitHubUser struct {
	ID     int64
	Login  string
	Emails []GitHubEmail
	// NoEmailScope makes /user/emails answer 403, as for a token without user:email.
	NoEmailScope bool
}

// GitHubEmail is one of a user's addresses, as /user/emails lists them.
type GitHubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

type ghCode struct {
	login, redirectURI, challenge, method string
}

// StartGitHub runs the fake GitHub with one OAuth app until the test ends.
func StartGitHub(t testing.TB, clientID, secret string) *GitHub {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &GitHub{
		URL: "http://" + ln.Addr().String(), ClientID: clientID, Secret: secret,
		users: map[string]*GitHubUser{}, codes: map[string]ghCode{}, tokens: map[string]string{}, requests: map[string]int{},
	}
	g.AuthURL, g.TokenURL, g.API = g.URL+"/login/oauth/authorize", g.URL+"/login/oauth/access_token", g.URL+"/api/v3"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", g.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", g.token)
	mux.HandleFunc("GET /api/v3/user", g.user)
	mux.HandleFunc("GET /api/v3/user/emails", g.emails)
	g.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.requests[r.URL.Path]++
		down, apiDown, delay := g.down, g.apiDn, g.delay
		g.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if down || (apiDown && strings.HasPrefix(r.URL.Path, "/api/")) {
			http.Error(w, "unicorn", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	g.srv.Listener.Close()
	g.srv.Listener = ln
	g.srv.Start()
	t.Cleanup(g.srv.Close)
	return g
}

// AddUser adds or replaces a user.
func (g *GitHub) AddUser(u GitHubUser) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := u
	g.users[u.Login] = &c
}

// SignInAs makes the next authorizations sign in as login (the user at GitHub's login page).
func (g *GitHub) SignInAs(login string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.next = login
}

// SetDown makes every endpoint answer 503 (true), or serve again.
func (g *GitHub) SetDown(down bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = down
}

// SetAPIDown makes the REST API (/user, /user/emails) answer 503 while the OAuth endpoints
// still work: a code is redeemed and the identity cannot be read.
func (g *GitHub) SetAPIDown(down bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.apiDn = down
}

// SetDelay makes every answer wait d.
func (g *GitHub) SetDelay(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.delay = d
}

// Requests answers how many requests path got.
func (g *GitHub) Requests(path string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests[path]
}

// Authorize follows authURL as a browser would and answers where GitHub sends it back (the
// redirect URI with code and state), without following that.
func (g *GitHub) Authorize(authURL string) (*url.URL, error) {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp.Location()
}

func (g *GitHub) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != g.ClientID {
		http.Error(w, "unknown client", http.StatusNotFound)
		return
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || back.Scheme == "" {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	login := g.next
	code := rand.Text()[:20]
	g.codes[code] = ghCode{login: login, redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method")}
	g.mu.Unlock()
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// token redeems a code once; every refusal is 200 with an error field, as GitHub answers.
func (g *GitHub) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	answer := func(v map[string]string) {
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_ = json.NewEncoder(w).Encode(v)
			return
		}
		f := url.Values{}
		for k, x := range v {
			f.Set(k, x)
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		_, _ = w.Write([]byte(f.Encode()))
	}
	fail := func(code string) { answer(map[string]string{"error": code, "error_description": code}) }
	if r.PostForm.Get("client_id") != g.ClientID || r.PostForm.Get("client_secret") != g.Secret {
		fail("incorrect_client_credentials")
		return
	}
	g.mu.Lock()
	c, ok := g.codes[r.PostForm.Get("code")]
	delete(g.codes, r.PostForm.Get("code")) // single use, whatever the outcome
	g.mu.Unlock()
	if !ok {
		fail("bad_verification_code")
		return
	}
	if r.PostForm.Get("redirect_uri") != "" && r.PostForm.Get("redirect_uri") != c.redirectURI {
		fail("redirect_uri_mismatch")
		return
	}
	if c.challenge != "" {
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if c.method != "S256" || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
			fail("bad_verification_code")
			return
		}
	}
	tok := "gho_" + rand.Text()
	g.mu.Lock()
	g.tokens[tok] = c.login
	g.mu.Unlock()
	answer(map[string]string{"access_token": tok, "token_type": "bearer", "scope": "user:email"})
}

func (g *GitHub) bearer(w http.ResponseWriter, r *http.Request) *GitHubUser {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	g.mu.Lock()
	defer g.mu.Unlock()
	login, found := g.tokens[tok]
	u := g.users[login]
	if !ok || !found || u == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"Bad credentials"}`))
		return nil
	}
	c := *u
	return &c
}

func (g *GitHub) user(w http.ResponseWriter, r *http.Request) {
	u := g.bearer(w, r)
	if u == nil {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// The public profile email is set to something unverified, which must never be used.
	_ = json.NewEncoder(w).Encode(map[string]any{"id": u.ID, "login": u.Login, "email": "public-" + u.Login + "@example.net"})
}

func (g *GitHub) emails(w http.ResponseWriter, r *http.Request) {
	u := g.bearer(w, r)
	if u == nil {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if u.NoEmailScope {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"message":"Resource not accessible by integration"}`))
		return
	}
	list := u.Emails
	if list == nil {
		list = []GitHubEmail{}
	}
	_ = json.NewEncoder(w).Encode(list)
}
