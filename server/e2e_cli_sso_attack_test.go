package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/cli"
	"github.com/authgraph/authgraph/internal/sso"
)

// An attacker's view of `authgraph login --provider`: the CLI's loopback port is reachable by
// every program on the machine, and the start URL (state included) is in the browser's
// history and in the arguments of the process that opened it. What arrives there must not
// reach the terminal as control sequences, the port is on 127.0.0.1 only, and requests
// without the run's state are ignored.
func TestCLIProviderLoginAttacks(t *testing.T) {
	op := startSSOProvider(t)
	providers, _ := json.Marshal([]sso.Config{{Name: "acme", Issuer: op.Issuer, ClientID: "authgraph", ClientSecret: "client-secret",
		ClientRedirectURIs: []string{appLoopback}}})
	srv := startServer(t, map[string]string{"AUTHGRAPH_PUBLIC_URL": ssoPublicURL, "AUTHGRAPH_SSO_PROVIDERS": string(providers)})
	dir := t.TempDir()

	// The "browser" is another program on the machine that read the start URL: it knocks
	// with other states and paths, then answers with the run's state and an error full of
	// terminal control sequences.
	var knocks []string
	var page string
	var exposed []string
	done := make(chan struct{})
	open := func(start string) error {
		su, err := url.Parse(start)
		if err != nil {
			return err
		}
		q := su.Query()
		redirect, state := q.Get("redirect"), q.Get("state")
		ru, _ := url.Parse(redirect)
		go func() {
			defer close(done)
			// Bound to the loopback address only: not reachable on the machine's other
			// addresses.
			if addrs, err := net.InterfaceAddrs(); err == nil {
				for _, a := range addrs {
					if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() {
						c, err := net.DialTimeout("tcp", net.JoinHostPort(ipn.IP.String(), ru.Port()), time.Second)
						if err == nil {
							c.Close()
							exposed = append(exposed, ipn.IP.String())
						}
					}
				}
			}
			for _, u := range []string{
				redirect + "?code=agc_x&state=" + url.QueryEscape(state+"x"),
				redirect + "?code=agc_x&state=",
				redirect + "?code=agc_x",
				strings.TrimSuffix(redirect, "/callback") + "/other?code=agc_x&state=" + url.QueryEscape(state),
			} {
				if resp, err := http.Get(u); err == nil {
					knocks = append(knocks, resp.Status)
					resp.Body.Close()
				}
			}
			evil := url.Values{"state": {state}, "error": {"access_denied\x1b]0;pwned\x07\x1b[2J"},
				"error_description": {"\x1b]52;c;ZWNobyBwd25lZA==\x07<script>alert(1)</script>\r\nmore"}}
			if resp, err := http.Get(redirect + "?" + evil.Encode()); err == nil {
				b, _ := io.ReadAll(resp.Body)
				page = string(b)
				resp.Body.Close()
			}
		}()
		return nil
	}
	var out, errb bytes.Buffer
	e := cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, ConfigDir: dir, OpenBrowser: open}
	code := runCLI(context.Background(), []string{"authgraph", "--api-url", srv.URL, "login", "--provider", "acme", "--timeout", "20s"}, e)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the knocking program did not finish")
	}
	if code != 1 || !strings.Contains(errb.String(), "access_denied") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %q", code, out.String(), errb.String())
	}
	for _, b := range []byte{0x1b, 0x07, '\r'} {
		if strings.IndexByte(errb.String(), b) >= 0 || strings.IndexByte(out.String(), b) >= 0 {
			t.Errorf("control byte %#x reached the terminal: %q", b, errb.String())
		}
	}
	if strings.Contains(page, "<script>") {
		t.Errorf("the page reflects markup: %s", page)
	}
	if strings.Join(knocks, ",") != "400 Bad Request,400 Bad Request,400 Bad Request,400 Bad Request" {
		t.Errorf("knocks without the run's state: %v", knocks)
	}
	if len(exposed) > 0 {
		t.Errorf("the CLI's port answers on %v", exposed)
	}
}
