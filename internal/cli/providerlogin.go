package cli

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Sign-in through an identity provider from the command line, as a native app does (RFC
// 8252): the CLI listens on a loopback port the system picks, sends the browser to the
// server's /auth/NAME/start with that redirect URI, its own state and the S256 challenge of a
// fresh PKCE verifier, and receives authgraph's one-time code there; it trades the code with
// the verifier. The code is worth nothing without the verifier, which never leaves this
// process, so another program that sees the redirect (or the browser's history) cannot use it.

// DefaultProviderLoginTimeout bounds how long `login --provider` waits for the browser.
const DefaultProviderLoginTimeout = 5 * time.Minute

// loopbackAnswer is what the browser brought to the loopback listener.
type loopbackAnswer struct {
	code, err string
}

// loginWithProvider runs the flow and answers the traded session.
func (a *app) loginWithProvider(ctx context.Context, c *client, provider, name string, noBrowser bool, timeout time.Duration) (sessionAnswer, error) {
	base, err := serverBase(c.url)
	if err != nil {
		return sessionAnswer{}, err
	}
	// Asked first, so that a misspelt name fails now rather than in the browser.
	var known struct {
		P []struct{ Name string } `json:"signInProviders"`
	}
	if err := c.do(ctx, `query CliSignInProviders { signInProviders { name } }`, nil, &known); err != nil {
		return sessionAnswer{}, err
	}
	var names []string
	found := false
	for _, p := range known.P {
		found = found || p.Name == provider
		names = append(names, p.Name)
	}
	if !found {
		has := strings.Join(names, ", ")
		if has == "" {
			has = "none"
		}
		return sessionAnswer{}, fmt.Errorf("%w: the server has no sign-in provider %q (it has: %s)", ErrUsage, provider, has)
	}
	// 127.0.0.1, never "localhost" (RFC 8252 section 8.3): a name may resolve elsewhere, or
	// to an address another program listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return sessionAnswer{}, fmt.Errorf("cannot listen on a loopback port for the browser's answer: %w", err)
	}
	defer ln.Close()
	redirect := fmt.Sprintf("http://%s/callback", ln.Addr().String())
	verifier, state := oauth2.GenerateVerifier(), rand.Text()
	start := base + "/auth/" + url.PathEscape(provider) + "/start?" + url.Values{
		"redirect": {redirect}, "state": {state},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}.Encode()

	answers := make(chan loopbackAnswer, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		// Anything on this machine can reach the port: only the state this run sent is an
		// answer; anything else is ignored and the wait goes on.
		if r.URL.Path != "/callback" || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, page("Not this sign-in", "This page does not belong to the sign-in the command line is waiting for."))
			return
		}
		// The error is printed to the terminal: printable ASCII only, short. Whoever knows
		// the state (it is in the browser's history and the opener's arguments) could
		// otherwise send escape sequences that retitle the terminal or write the clipboard.
		ans := loopbackAnswer{code: q.Get("code"), err: printable(q.Get("error"), 64)}
		if ans.code == "" && ans.err == "" {
			ans.err = "no code"
		}
		if d := printable(q.Get("error_description"), 128); ans.err != "" && d != "" {
			ans.err += " (" + d + ")"
		}
		if ans.err != "" {
			fmt.Fprint(w, page("Sign-in failed", "The sign-in did not complete: "+ans.err+". You can close this tab."))
		} else {
			fmt.Fprint(w, page("Signed in", "You are signed in to the command line. You can close this tab."))
		}
		select {
		case answers <- ans:
		default: // answered already
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	fmt.Fprintf(a.env.Stderr, "To sign in with %s, open this address in a browser:\n\n  %s\n\nWaiting up to %v for the browser…\n", provider, start, timeout)
	if !noBrowser {
		open := a.env.OpenBrowser
		if open == nil {
			open = openBrowser
		}
		if err := open(start); err != nil {
			fmt.Fprintln(a.env.Stderr, "authgraph: could not open a browser (open the address above yourself):", err)
		}
	}
	var ans loopbackAnswer
	select {
	case ans = <-answers:
	case <-time.After(timeout):
		return sessionAnswer{}, fmt.Errorf("no answer from the browser within %v: the sign-in was not finished (run `authgraph login --provider %s` again)", timeout, provider)
	case <-ctx.Done():
		return sessionAnswer{}, ctx.Err()
	}
	if ans.err != "" {
		return sessionAnswer{}, fmt.Errorf("the sign-in with %s failed: %s", provider, ans.err)
	}
	var out struct {
		S sessionAnswer `json:"createSessionUsingAuthorizationCode"`
	}
	var n any
	if name != "" {
		n = name
	}
	err = c.do(ctx, `mutation CliLoginWithProvider($p: String!, $c: String!, $v: String!, $r: String!, $name: String) {
  createSessionUsingAuthorizationCode(input: {provider: $p, code: $c, codeVerifier: $v, redirectUri: $r, name: $name}) { `+sessionFields+` } }`,
		map[string]any{"p": provider, "c": ans.code, "v": verifier, "r": redirect, "name": n}, &out)
	return out.S, err
}

// printable keeps the printable ASCII of s, at most n bytes of it.
func printable(s string, n int) string {
	b := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && len(b) < n; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		}
	}
	return string(b)
}

// serverBase is the server's origin (and path prefix) from its GraphQL endpoint.
func serverBase(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", err
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/graphql")
	return u.String(), nil
}

func page(title, text string) string {
	return "<!doctype html><meta charset=utf-8><title>" + html.EscapeString(title) + "</title>" +
		"<body style=\"font-family:sans-serif;margin:3em\"><h1>" + html.EscapeString(title) + "</h1><p>" + html.EscapeString(text) + "</p>"
}

// openBrowser asks the desktop to open u in the user's browser, without waiting for it.
func openBrowser(u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

var errBothLogins = errors.New("give only one of --username, --key-id and --provider")
