package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/token"

	"github.com/authgraph/authgraph/internal/testenv"
)

// nginxConf is the auth_request configuration of docs/introspection.md, which this test
// reads from the page and runs: the server block between the markers, with the addresses and
// the secret put in.
func nginxConf(t *testing.T, dir, listen, authgraph, product string) string {
	t.Helper()
	doc := readDoc(t, "docs/introspection.md")
	m := regexp.MustCompile("(?s)```nginx\n(.*?)```").FindStringSubmatch(doc)
	if m == nil {
		t.Fatal("docs/introspection.md has no nginx block")
	}
	site := strings.NewReplacer(
		"listen 443 ssl;", "listen "+listen+";",
		"127.0.0.1:8080", authgraph,
		"127.0.0.1:8081", product,
		"<AUTHGRAPH_INTROSPECT_SECRET>", introspectSecret,
	).Replace(m[1])
	for _, l := range strings.Split(site, "\n") {
		if strings.Contains(l, "ssl_certificate") {
			site = strings.ReplaceAll(site, l+"\n", "")
		}
	}
	return fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
	access_log %[1]s/access.log;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, site)
}

// TestNginxAuthRequest runs a real nginx in front of a product, with auth_request asking a
// real authgraph (on Redis) about each request, as docs/introspection.md configures it. It
// skips when nginx is not installed, except under CI (.ci/run installs it).
func TestNginxAuthRequest(t *testing.T) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			testenv.Skip(t, "nginx is not installed (apt-get install nginx-light)")
			return
		}
		bin = "/usr/sbin/nginx"
	}
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_INTROSPECT_SECRET": introspectSecret})
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "shopper", "shopper-password-1")
	tok := srv.login(t, "shopper", "shopper-password-1")

	// The product trusts the headers nginx sets, and sees no token.
	product := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%s account=%s scopes=%s token=%q", r.Header.Get("X-Authgraph-User"), r.Header.Get("X-Authgraph-Account"),
			r.Header.Get("X-Authgraph-Scopes"), r.Header.Get("X-Auth-Token")+r.Header.Get("Authorization"))
	}))
	defer product.Close()

	dir := t.TempDir()
	port := freePort(t)
	listen := "127.0.0.1:" + port
	conf := nginxConf(t, dir, listen, strings.TrimPrefix(srv.URL, "http://"), strings.TrimPrefix(product.URL, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not start: %s\n%s", b, conf)
		}
		time.Sleep(20 * time.Millisecond)
	}

	get := func(method string, headers ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+listen+"/orders", strings.NewReader("a body nginx must not forward to authgraph"))
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	unknown, _ := token.New(token.Session)
	userGID := srv.post(t, tok, `{ me { id } }`, nil).str(t, "me.id")
	for _, tc := range []struct {
		name    string
		method  string
		headers []string
		status  int
	}{
		{"x-auth-token", "GET", []string{"x-auth-token", tok}, 200},
		{"Bearer, on a POST with a body", "POST", []string{"Authorization", "Bearer " + tok}, 200},
		{"no token", "GET", nil, 401},
		{"no token and a forged identity", "GET", []string{"X-Authgraph-User", userGID}, 401},
		{"unknown token", "GET", []string{"x-auth-token", unknown}, 401},
		{"malformed token", "GET", []string{"x-auth-token", "garbage"}, 401},
	} {
		status, body := get(tc.method, tc.headers...)
		if status != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.name, status, tc.status, body)
			continue
		}
		if status == 200 {
			if want := "user=" + userGID + " "; !strings.HasPrefix(body, want) || !strings.Contains(body, "scopes=read keys:write sessions:write account:write") {
				t.Errorf("%s: the product saw %s", tc.name, body)
			}
			if !strings.HasSuffix(body, `token=""`) {
				t.Errorf("%s: the product was handed the token: %s", tc.name, body)
			}
		}
	}

	// Signing out in authgraph closes the door at once (the session cache is authgraph's).
	if r := srv.post(t, tok, `mutation { deleteSession { id } }`, nil); r.code() != "" {
		t.Fatal(r.Raw)
	}
	if status, body := get("GET", "x-auth-token", tok); status != 401 {
		t.Errorf("after sign-out: %d %s", status, body)
	}
	logs := srv.logs.String()
	if strings.Contains(logs, tok) || strings.Contains(logs, introspectSecret) {
		t.Error("authgraph's log holds the token or the secret")
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
