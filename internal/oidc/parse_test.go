package oidc_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/oidc"
)

func TestParseIssuers(t *testing.T) {
	text := `
	[
	  {
	    "url": "https://example.eu.auth0.com/",
	    "audiences": ["https://authgraph.example.com"],
	    "algorithms": ["RS256"],
	    "allowed_subjects": ["auth0|5f7c"],
	    "allowed_emails": ["alice@example.com"],
	    "users": {"auth0|5f7c": "bob"}
	  },
	  {
	    "url": "http://127.0.0.1:8080/realms/dev",
	    "jwks_url": "http://127.0.0.1:8080/realms/dev/certs?x=1",
	    "audiences": ["authgraph"],
	    "allowed_emails": ["dev@example.com"],
	    "account": "dev"
	  }
	]`
	got, err := oidc.ParseIssuers(text)
	if err != nil {
		t.Fatal(err)
	}
	want := []oidc.Issuer{
		{
			URL:             "https://example.eu.auth0.com/",
			Audiences:       []string{"https://authgraph.example.com"},
			Algorithms:      []string{"RS256"},
			AllowedSubjects: []string{"auth0|5f7c"},
			AllowedEmails:   []string{"alice@example.com"},
			Users:           map[string]string{"auth0|5f7c": "bob"},
		},
		{
			URL:           "http://127.0.0.1:8080/realms/dev",
			JWKSURL:       "http://127.0.0.1:8080/realms/dev/certs?x=1",
			Audiences:     []string{"authgraph"},
			AllowedEmails: []string{"dev@example.com"},
			Account:       "dev",
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestParseIssuersErrors(t *testing.T) {
	const ok = `"audiences": ["a"], "allowed_subjects": ["s"]`
	tests := []struct {
		name, text, want string
	}{
		{"empty", "", "want a JSON array"},
		{"object", `{"url": "https://a.example/"}`, "want a JSON array"},
		{"no issuers", `[]`, "at least one is required"},
		{"syntax error", "[\n  {\"url\": \"https://a.example/\",}\n]", "line 2"},
		{"wrong type", `[{"url": "https://a.example/", "audiences": "a", "allowed_subjects": ["s"]}]`, "audiences"},
		{"unknown field", `[{"url": "https://a.example/", "audience": ["a"], "allowed_subjects": ["s"]}]`, `unknown field "audience"`},
		{"trailing text", `[{"url": "https://a.example/", ` + ok + `}] x`, "after the JSON array"},
		{"missing url", `[{` + ok + `}]`, "url: required"},
		{"relative url", `[{"url": "a.example", ` + ok + `}]`, "not an absolute URL"},
		{"plain http", `[{"url": "http://a.example/", ` + ok + `}]`, "must use https"},
		{"issuer with a query", `[{"url": "https://a.example/?x=1", ` + ok + `}]`, "query"},
		{"url with credentials", `[{"url": "https://u:secret@a.example/", ` + ok + `}]`, "credentials"},
		{"plain http JWKS", `[{"url": "https://a.example/", "jwks_url": "http://a.example/jwks", ` + ok + `}]`, "jwks_url"},
		{"no audiences", `[{"url": "https://a.example/", "allowed_subjects": ["s"]}]`, "audiences: at least one"},
		{"empty audience", `[{"url": "https://a.example/", "audiences": [""], "allowed_subjects": ["s"]}]`, "audiences: empty"},
		{"alg none", `[{"url": "https://a.example/", "algorithms": ["none"], ` + ok + `}]`, "refused"},
		{"alg HS256", `[{"url": "https://a.example/", "algorithms": ["RS256", "HS256"], ` + ok + `}]`, "refused"},
		{"alg unknown", `[{"url": "https://a.example/", "algorithms": ["RS1"], ` + ok + `}]`, "not supported"},
		{"nobody allowed", `[{"url": "https://a.example/", "audiences": ["a"]}]`, "nobody could sign in"},
		{"empty subject", `[{"url": "https://a.example/", "audiences": ["a"], "allowed_subjects": [""]}]`, "allowed_subjects: empty"},
		{"not an email", `[{"url": "https://a.example/", "audiences": ["a"], "allowed_emails": ["bob"]}]`, "not an email"},
		{"user not allowed", `[{"url": "https://a.example/", ` + ok + `, "users": {"t": "x"}}]`, "neither an allowed subject nor an allowed email"},
		{"empty username", `[{"url": "https://a.example/", ` + ok + `, "users": {"s": ""}}]`, "empty username"},
		{"duplicate", `[{"url": "https://a.example/", ` + ok + `}, {"url": "https://a.example/", ` + ok + `}]`, "issuers[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := oidc.ParseIssuers(tt.text)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows a password", err)
			}
			t.Logf("%v", err)
		})
	}
}

func TestParseIssuersLoopbackHTTP(t *testing.T) {
	for _, u := range []string{"http://localhost:9000/", "http://127.0.0.1/", "http://[::1]:8443/x"} {
		if _, err := oidc.ParseIssuers(`[{"url": "` + u + `", "audiences": ["a"], "allowed_subjects": ["s"]}]`); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func TestNewValidates(t *testing.T) {
	valid := []oidc.Issuer{{URL: "https://a.example/", Audiences: []string{"a"}, AllowedSubjects: []string{"s"}}}
	tests := []struct {
		name    string
		issuers []oidc.Issuer
		opts    []oidc.Option
	}{
		{"no issuers", nil, nil},
		{"invalid issuer", []oidc.Issuer{{URL: "https://a.example/"}}, nil},
		{"negative skew", valid, []oidc.Option{oidc.WithClockSkew(-time.Second)}},
		{"negative refresh interval", valid, []oidc.Option{oidc.WithMinRefreshInterval(-time.Second)}},
		{"nil clock", valid, []oidc.Option{oidc.WithClock(nil)}},
		{"nil client", valid, []oidc.Option{oidc.WithHTTPClient((*http.Client)(nil))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := oidc.New(context.Background(), tt.issuers, tt.opts...); err == nil {
				t.Error("no error")
			}
		})
	}
	if _, err := oidc.New(context.Background(), valid); err != nil {
		t.Errorf("valid: %v", err)
	}
}

// TestNewCopiesConfig: changing the caller's slices and maps afterwards changes nothing.
func TestNewCopiesConfig(t *testing.T) {
	f := newFixture(t, nil)
	iss := f.p.Issuer("alice-sub")
	iss.Users = map[string]string{"alice-sub": "alice"}
	v := newVerifier(t, []oidc.Issuer{iss}, oidc.WithClock(f.clock.Now))
	iss.AllowedSubjects[0] = "mallory"
	iss.Users["alice-sub"] = "root"
	id, err := v.Verify(context.Background(), f.p.Sign(t, f.claims("alice-sub", nil)))
	if err != nil {
		t.Fatal(err)
	}
	if id.Username != "alice" {
		t.Errorf("username %q, want alice", id.Username)
	}
}
