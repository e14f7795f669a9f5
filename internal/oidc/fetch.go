package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// maxDocumentSize bounds a discovery document or JWKS, so a broken or hostile provider
// cannot make us buffer an unbounded body. Real ones are a few KiB.
const maxDocumentSize = 1 << 20

// discover reads issuerURL's OpenID Provider configuration and returns its jwks_uri. The
// document must name the same issuer (OpenID Connect Discovery 1.0, §4.3): otherwise keys
// from one provider could be trusted for another's tokens.
func discover(ctx context.Context, client *http.Client, issuerURL string) (string, error) {
	wellKnown := strings.TrimSuffix(issuerURL, "/") + "/.well-known/openid-configuration"
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := getJSON(ctx, client, wellKnown, &doc); err != nil {
		return "", err
	}
	if doc.Issuer != issuerURL {
		return "", fmt.Errorf("%s names issuer %s, want %q", wellKnown, quote(doc.Issuer), issuerURL)
	}
	if _, err := checkURL(doc.JWKSURI, true); err != nil {
		return "", fmt.Errorf("%s: jwks_uri: %w", wellKnown, err)
	}
	return doc.JWKSURI, nil
}

// fetchJWKS downloads a JWK Set and returns the public signing keys in it. Keys are parsed
// one by one and those that cannot be used (an unsupported "kty", an encryption key, a
// symmetric key) are skipped rather than failing the whole set, as a provider may publish
// more kinds of key than we verify with.
func fetchJWKS(ctx context.Context, client *http.Client, jwksURL string) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := getJSON(ctx, client, jwksURL, &set); err != nil {
		return nil, err
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil || !k.Valid() {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			continue // symmetric, private (a broken provider) or unknown: never used
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s has no usable signing keys", jwksURL)
	}
	return keys, nil
}

// getJSON GETs url and decodes its JSON body into dst.
func getJSON(ctx context.Context, client *http.Client, url string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > maxDocumentSize {
		return fmt.Errorf("GET %s: body larger than %d bytes", url, maxDocumentSize)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
