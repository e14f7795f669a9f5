package webhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// fakeResolver maps test names to addresses; it never asks DNS.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range f[host] {
		out = append(out, netip.MustParseAddr(s))
	}
	if len(out) == 0 {
		return nil, errors.New("no such host")
	}
	return out, nil
}

// Every refusal happens before any connection: the dialer fails the test if called.
func TestGuardRefusesNonPublicAddressesBeforeDialing(t *testing.T) {
	resolver := fakeResolver{
		"loopback.test":   {"127.0.0.1"},
		"loopback6.test":  {"::1"},
		"private.test":    {"10.1.2.3"},
		"private2.test":   {"192.168.1.10"},
		"private3.test":   {"172.16.5.5"},
		"ula.test":        {"fd00::1"},
		"linklocal.test":  {"169.254.10.10"},
		"metadata.test":   {"169.254.169.254"},
		"metadata6.test":  {"fd00:ec2::254"},
		"linklocal6.test": {"fe80::1"},
		"cgnat.test":      {"100.64.0.1"},
		"zero.test":       {"0.0.0.0"},
		"mapped.test":     {"::ffff:127.0.0.1"},
		"nat64.test":      {"64:ff9b::a9fe:a9fe"},
		"rebind.test":     {"93.184.215.14", "127.0.0.1"},
	}
	g := &Guard{Resolver: resolver, Dial: func(_ context.Context, _, addr string) (net.Conn, error) {
		t.Fatalf("dialed %s: the guard let a refused address through", addr)
		return nil, nil
	}}
	c := g.Client()
	hosts := []string{"127.0.0.1", "[::1]", "169.254.169.254", "10.0.0.1", "[fe80::1%25eth0]"}
	for h := range resolver {
		hosts = append(hosts, h)
	}
	for _, h := range hosts {
		resp, err := c.Post("http://"+h+"/hook", "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: answered %d, want a refusal", h, resp.StatusCode)
			continue
		}
		if !errors.Is(err, ErrForbiddenAddress) && !strings.Contains(err.Error(), "invalid") {
			t.Errorf("%s: %v, want ErrForbiddenAddress", h, err)
		}
	}
}

// A public name is dialed at the checked address, not by name.
func TestGuardDialsTheCheckedAddress(t *testing.T) {
	var dialed string
	g := &Guard{Resolver: fakeResolver{"hooks.example.test": {"93.184.215.14"}}, Dial: func(_ context.Context, _, addr string) (net.Conn, error) {
		dialed = addr
		return nil, errors.New("stop here")
	}}
	_, _ = g.Client().Get("http://hooks.example.test:8443/x")
	if dialed != "93.184.215.14:8443" {
		t.Fatalf("dialed %q", dialed)
	}
}

// With AllowPrivate (tests, private networks) loopback is reached, and redirects are not
// followed.
func TestGuardAllowPrivateReachesLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := (&Guard{}).Client()
	if _, err := c.Get(srv.URL); !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("loopback without AllowPrivate: %v", err)
	}
	c = (&Guard{AllowPrivate: true}).Client()
	resp, err := c.Get(srv.URL)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("%v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = c.Get(srv.URL + "/redirect")
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("a redirect was followed: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestCheckURL(t *testing.T) {
	for _, bad := range []string{"ftp://x/", "http://", "https://user:pw@x/", "javascript:alert(1)", "http://x/#f"} {
		if _, err := CheckURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := CheckURL("https://hooks.example.com/authgraph"); err != nil {
		t.Fatal(err)
	}
}
