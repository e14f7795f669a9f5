package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/cli"
	"github.com/authgraph/authgraph/internal/sso"
	"github.com/authgraph/authgraph/internal/sso/ssotest"
)

// `authgraph login --provider acme` end to end: the real server (embedded store, and Redis),
// the real OpenID Provider (ssotest), the CLI in process with its loopback listener, and a
// browser played by an HTTP client with a cookie jar that follows redirects: the start URL
// the CLI opens → the provider's login page (ssotest.SignIn) → authgraph's callback → the
// CLI's loopback port with the one-time code.

// headlessBrowser is the CLI's OpenBrowser for tests: it runs the flow as username in the
// background (the CLI waits for the loopback answer meanwhile) and records what it saw.
type headlessBrowser struct {
	t        *testing.T
	op       *ssotest.Provider
	username string
	// before, if set, runs first with the loopback redirect URI (to knock on the port).
	before func(redirect string)

	mu    sync.Mutex
	page  string
	start string
	err   error
	done  chan struct{}
}

func (h *headlessBrowser) open(start string) error {
	h.start, h.done = start, make(chan struct{})
	go func() {
		defer close(h.done)
		page, err := h.run(start)
		h.mu.Lock()
		h.page, h.err = page, err
		h.mu.Unlock()
	}()
	return nil
}

func (h *headlessBrowser) run(start string) (string, error) {
	su, _ := url.Parse(start)
	if h.before != nil {
		h.before(su.Query().Get("redirect"))
	}
	jar, _ := cookiejar.New(nil)
	noFollow := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(start)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("start: %s", resp.Status)
	}
	back, err := h.op.SignIn(context.Background(), resp.Header.Get("Location"), h.username)
	if err != nil {
		return "", err
	}
	// The callback, then wherever it sends the browser (the CLI's loopback port).
	follow := &http.Client{Jar: jar}
	resp, err = follow.Get(back.String())
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.HasPrefix(resp.Request.URL.String(), su.Query().Get("redirect")+"?") {
		return string(b), fmt.Errorf("the browser ended on %s", resp.Request.URL)
	}
	return string(b), nil
}

func (h *headlessBrowser) wait() (string, error) {
	select {
	case <-h.done:
	case <-time.After(20 * time.Second):
		return "", fmt.Errorf("the browser did not finish")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.page, h.err
}

func TestCLIProviderLogin(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) { testCLIProviderLogin(t, store) })
	}
}

func testCLIProviderLogin(t *testing.T, store string) {
	// The provider sends the browser to the public URL, which must be the server's real
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
	providers, _ := json.Marshal([]sso.Config{{Name: "acme", Issuer: op.Issuer, ClientID: "authgraph", ClientSecret: "client-secret",
		ClientRedirectURIs: []string{appLoopback}, Provision: true}})
	env := map[string]string{"AUTHGRAPH_ADDR": addr, "AUTHGRAPH_PUBLIC_URL": base, "AUTHGRAPH_SSO_PROVIDERS": string(providers),
		"AUTHGRAPH_SIGNUP": "OPEN", "AUTHGRAPH_RATE_LIMITS": "sso:ip=1000/1m/1000"}
	var srv *testServer
	if store == "redis" {
		srv, _ = startRedisServer(t, env)
	} else {
		srv = startServer(t, env)
	}
	dir := t.TempDir()
	run := func(browser *headlessBrowser, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		e := cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, ConfigDir: dir}
		if browser != nil {
			e.OpenBrowser = browser.open
		}
		code := runCLI(context.Background(), append([]string{"authgraph", "--api-url", srv.URL}, args...), e)
		return code, out.String(), errb.String()
	}

	// Something else on the machine knocks on the CLI's port first, with a made-up code and
	// state: ignored, the CLI keeps waiting for its own answer.
	var knocked string
	browser := &headlessBrowser{t: t, op: op, username: "alice", before: func(redirect string) {
		resp, err := http.Get(redirect + "?code=agc_made-up&state=guessed")
		if err == nil {
			knocked = resp.Status
			resp.Body.Close()
		}
	}}
	began := time.Now()
	code, out, errs := run(browser, "login", "--provider", "acme", "--name", "laptop")
	took := time.Since(began)
	page, berr := browser.wait()
	if code != 0 {
		t.Fatalf("login --provider: exit %d\nstdout: %s\nstderr: %s\nbrowser: %v %s", code, out, errs, berr, page)
	}
	t.Logf("login --provider on the loopback provider took %v (listen, start, provider, callback, loopback, trade, me)", took)
	if berr != nil || !strings.Contains(page, "You can close this tab") {
		t.Errorf("the browser's last page: %v %s", berr, page)
	}
	if knocked != "400 Bad Request" {
		t.Errorf("a knock with another state: %q, want 400 and the wait going on", knocked)
	}
	if !strings.Contains(out, "as alice@example.com") || !strings.Contains(out, "EXTERNAL") {
		t.Errorf("stdout: %s", out)
	}
	su, _ := url.Parse(browser.start)
	q := su.Query()
	if !strings.HasPrefix(browser.start, srv.URL+"/auth/acme/start?") || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 ||
		q.Get("state") == "" || !strings.HasPrefix(q.Get("redirect"), "http://127.0.0.1:") || !strings.Contains(errs, browser.start) {
		t.Errorf("start URL %s (stderr %s)", browser.start, errs)
	}
	// The saved session works.
	if code, out, errs := run(nil, "whoami"); code != 0 || !strings.Contains(out, "alice@example.com") || !strings.Contains(out, "EXTERNAL") {
		t.Errorf("whoami: %d %s %s", code, out, errs)
	}

	t.Run("timeout", func(t *testing.T) {
		began := time.Now()
		code, _, errs := run(nil, "login", "--provider", "acme", "--no-browser", "--timeout", "1s")
		if code != 1 || !strings.Contains(errs, "no answer from the browser within 1s") || !strings.Contains(errs, "/auth/acme/start?") {
			t.Errorf("timeout: exit %d, stderr %s", code, errs)
		}
		if d := time.Since(began); d > 5*time.Second {
			t.Errorf("the timeout took %v", d)
		}
	})
	t.Run("refused", func(t *testing.T) {
		// mallory has alice's address at the provider: not linked, not provisioned; the CLI
		// hears it from the browser at once.
		op.AddUser(ssotest.User{ID: "sub-mallory", Username: "mallory", Email: "alice@example.com", EmailVerified: true})
		b := &headlessBrowser{t: t, op: op, username: "mallory"}
		code, _, errs := run(b, "login", "--provider", "acme", "--timeout", "20s")
		_, _ = b.wait()
		if code != 1 || !strings.Contains(errs, "access_denied") || !strings.Contains(errs, "IDENTITY_NOT_LINKED") {
			t.Errorf("refused: exit %d, stderr %s", code, errs)
		}
	})
	t.Run("usage", func(t *testing.T) {
		if code, _, errs := run(nil, "login", "--provider", "acme", "--username", "x"); code != 2 {
			t.Errorf("--provider with --username: exit %d %s", code, errs)
		}
		code, _, errs := run(nil, "login", "--provider", "nope", "--no-browser", "--timeout", "1m")
		if code != 2 || !strings.Contains(errs, `no sign-in provider "nope" (it has: acme)`) {
			t.Errorf("an unknown provider: exit %d %s", code, errs)
		}
	})
}
