// Package ssotest runs a real OpenID Provider in-process for tests: the op package of
// github.com/zitadel/oidc (an OpenID-certified implementation) with that module's example
// storage and login page, on a loopback listener. Tests register clients and users, and
// SignIn plays the user at the provider's login page, so that a flow can be run end to end
// with a plain HTTP client.
package ssotest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"golang.org/x/text/language"
)

// Password is the password of every user of the provider.
const Password = "verysecure"

// User is an account at the provider.
type User struct {
	ID, Username, Email string
	EmailVerified       bool
}

// Provider is a running OpenID Provider.
type Provider struct {
	// Issuer is its issuer URL (http://127.0.0.1:port).
	Issuer string
	srv    *httptest.Server
	users  *users
	// down, when set, makes every request fail with 503, as a provider in an outage does.
	mu    sync.Mutex
	down  bool
	delay time.Duration
}

type users struct {
	mu sync.Mutex
	m  map[string]*storage.User
}

func (u *users) GetUserByID(id string) *storage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	if v, ok := u.m[id]; ok {
		c := *v
		return &c
	}
	return nil
}

func (u *users) GetUserByUsername(name string) *storage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, v := range u.m {
		if v.Username == name {
			c := *v
			return &c
		}
	}
	return nil
}

func (u *users) ExampleClientID() string { return storage.ServiceUserID }

// Client is a client registered at the provider.
type Client struct {
	ID, Secret   string
	RedirectURIs []string
}

// Start runs a provider with clients until the test ends.
func Start(t testing.TB, clients ...Client) *Provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{Issuer: "http://" + ln.Addr().String(), users: &users{m: map[string]*storage.User{}}}
	cm := map[string]*storage.Client{}
	for _, c := range clients {
		// A web (confidential) client: HTTP Basic authentication with its secret; the
		// provider allows http redirect URIs for it in its development mode.
		cm[c.ID] = storage.WebClient(c.ID, c.Secret, c.RedirectURIs...)
	}
	// The example provider logs every request through slog's default logger; authgraph
	// logs with zerolog, so nothing else of the test process is silenced.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	st := storage.NewStorageWithClients(p.users, cm)
	router := exampleop.SetupServer(p.Issuer, st, nil, false)
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		down, delay := p.down, p.delay
		p.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		router.ServeHTTP(w, r)
	}))
	p.srv.Listener.Close()
	p.srv.Listener = ln
	p.srv.Start()
	t.Cleanup(p.srv.Close)
	return p
}

// AddUser adds or replaces a user; replacing one changes what the next ID token says (an
// email that changes at the provider).
func (p *Provider) AddUser(u User) {
	p.users.mu.Lock()
	defer p.users.mu.Unlock()
	p.users.m[u.ID] = &storage.User{
		ID: u.ID, Username: u.Username, Password: Password, FirstName: "Test", LastName: u.Username,
		Email: u.Email, EmailVerified: u.EmailVerified, PreferredLanguage: language.English,
	}
}

// SetDown makes the provider answer every request with 503 (true), or serve again.
func (p *Provider) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// SetDelay makes the provider wait d before answering each request (0: answer at once), as
// a provider under load or behind a dead link does.
func (p *Provider) SetDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// Close stops the provider: every later request fails to connect.
func (p *Provider) Close() { p.srv.Close() }

// SignIn plays the user at the provider: it follows authURL to the login page, signs in as
// username, and answers the URL the provider then redirects the browser to (the client's
// redirect URI, with code and state), without following it.
func (p *Provider) SignIn(ctx context.Context, authURL, username string) (*url.URL, error) {
	stop := errors.New("left the provider")
	var left *url.URL
	c := &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), p.Issuer+"/") {
			left = req.URL
			return stop
		}
		return nil
	}}
	get := func(u string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		return c.Do(req)
	}
	resp, err := get(authURL)
	if left != nil {
		return left, nil // the provider answered at once (an error redirect)
	}
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	if resp.StatusCode != http.StatusOK || id == "" {
		return nil, fmt.Errorf("ssotest: authorize ended on %s with %s", resp.Request.URL, resp.Status)
	}
	form := url.Values{"username": {username}, "password": {Password}, "id": {id}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Issuer+"/login/username", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.Do(req)
	if left != nil {
		return left, nil
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return nil, fmt.Errorf("ssotest: login ended on %s with %s: %.200s", resp.Request.URL, resp.Status, body)
}
