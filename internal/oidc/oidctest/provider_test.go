package oidctest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/authgraph/authgraph/internal/oidc/oidctest"
)

func TestProviderServesDiscoveryAndRotates(t *testing.T) {
	p := oidctest.NewProvider(t)
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, p.URL+"/.well-known/openid-configuration", &doc)
	if doc.Issuer != p.URL || doc.JWKSURI != p.JWKSURL {
		t.Errorf("discovery = %+v", doc)
	}
	kids := func() string {
		var set struct {
			Keys []struct {
				KID string `json:"kid"`
			} `json:"keys"`
		}
		getJSON(t, p.JWKSURL, &set)
		var out []string
		for _, k := range set.Keys {
			out = append(out, k.KID)
		}
		return strings.Join(out, ",")
	}
	if got := kids(); got != "rsa-1,ec-1" {
		t.Errorf("kids = %s", got)
	}
	p.Rotate(t)
	if got := kids(); got != "rsa-2,ec-2" {
		t.Errorf("kids after Rotate = %s", got)
	}
	if n := p.JWKSFetches(); n != 2 {
		t.Errorf("JWKSFetches = %d, want 2", n)
	}
	if tok := p.Sign(t, p.Claims("sub")); strings.Count(tok, ".") != 2 {
		t.Errorf("Sign returned %q", tok)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
