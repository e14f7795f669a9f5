package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestLoadConfigExternalIssuers(t *testing.T) {
	const issuer = `{"url": "https://idp.example.com/", "audiences": ["https://api.example.com"], "allowed_subjects": ["auth0|1"]`
	load := func(env map[string]string, args ...string) (Config, error) {
		return loadConfig(args, func(k string) string { return env[k] }, io.Discard)
	}

	c, err := load(nil)
	if err != nil || c.OIDCIssuers != nil || c.OIDCMinRefreshInterval != 10*time.Second {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	if v, err := newExternalVerifier(t.Context(), c, zerolog.Nop()); err != nil || v != nil {
		t.Fatalf("no issuers: verifier %v, %v; want none (external login off)", v, err)
	}
	if c, err := load(map[string]string{"AUTHGRAPH_OIDC_ISSUERS": "  \n "}); err != nil || c.OIDCIssuers != nil {
		t.Fatalf("blank issuers: %+v, %v", c.OIDCIssuers, err)
	}

	c, err = load(map[string]string{"AUTHGRAPH_OIDC_ISSUERS": "[" + issuer + `, "account": "acme"}]`, "AUTHGRAPH_OIDC_MIN_REFRESH_INTERVAL": "1m"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.OIDCIssuers) != 1 || c.OIDCIssuers[0].URL != "https://idp.example.com/" || c.OIDCIssuers[0].Account != "acme" || c.OIDCMinRefreshInterval != time.Minute {
		t.Fatalf("issuers %+v, interval %v", c.OIDCIssuers, c.OIDCMinRefreshInterval)
	}
	if v, err := newExternalVerifier(t.Context(), c, zerolog.Nop()); err != nil || v == nil {
		t.Fatalf("verifier %v, %v", v, err)
	}
	if c, err := load(nil, "-oidc-issuers", "["+issuer+"}]", "-oidc-min-refresh-interval", "0s"); err != nil || len(c.OIDCIssuers) != 1 || c.OIDCMinRefreshInterval != 0 {
		t.Fatalf("by flag: %+v, %v", c, err)
	}

	for name, env := range map[string]map[string]string{
		"not JSON":              {"AUTHGRAPH_OIDC_ISSUERS": "https://idp.example.com/"},
		"a typo in a field":     {"AUTHGRAPH_OIDC_ISSUERS": `[{"url": "https://idp.example.com/", "audience": ["x"], "allowed_subjects": ["s"]}]`},
		"no audience":           {"AUTHGRAPH_OIDC_ISSUERS": `[{"url": "https://idp.example.com/", "allowed_subjects": ["s"]}]`},
		"plain http":            {"AUTHGRAPH_OIDC_ISSUERS": `[{"url": "http://idp.example.com/", "audiences": ["a"], "allowed_subjects": ["s"]}]`},
		"a malformed account":   {"AUTHGRAPH_OIDC_ISSUERS": "[" + issuer + `, "account": "Acme Corp"}]`},
		"a negative interval":   {"AUTHGRAPH_OIDC_MIN_REFRESH_INTERVAL": "-1s"},
		"an interval that is 5": {"AUTHGRAPH_OIDC_MIN_REFRESH_INTERVAL": "5"},
	} {
		if _, err := load(env); err == nil {
			t.Errorf("%s: no error", name)
		} else if strings.Contains(name, "account") && !strings.Contains(err.Error(), "account") {
			t.Errorf("%s: the error %q does not name the field", name, err)
		}
	}
}
