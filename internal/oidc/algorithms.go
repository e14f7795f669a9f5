package oidc

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// defaultAlgorithms is what an Issuer accepts when it lists none: what Auth0, Okta, Google,
// Azure AD and Keycloak sign with by default.
var defaultAlgorithms = []string{gooidc.RS256, gooidc.ES256}

// supportedAlgorithms are the asymmetric JWS algorithms an Issuer may allow: go-oidc's.
// Symmetric algorithms (HS*) are left out on purpose: an HMAC key would have to be a secret
// shared with the provider, and accepting HS* where a public key is expected is the classic
// algorithm-confusion forgery (HMAC "signed" with the provider's public key). "none" is an
// unsigned token.
var supportedAlgorithms = []string{
	gooidc.RS256, gooidc.RS384, gooidc.RS512,
	gooidc.PS256, gooidc.PS384, gooidc.PS512,
	gooidc.ES256, gooidc.ES384, gooidc.ES512,
	gooidc.EdDSA,
}

// minRSABits is the smallest RSA modulus accepted in a JWKS (NIST SP 800-131A).
const minRSABits = 2048

// checkAlgorithm reports whether alg may appear in an Issuer's allow-list, with a reason an
// operator can act on when it may not.
func checkAlgorithm(alg string) error {
	if slices.Contains(supportedAlgorithms, alg) {
		return nil
	}
	switch {
	case strings.EqualFold(alg, "none"):
		return fmt.Errorf("algorithm %q is refused: it accepts unsigned tokens", alg)
	case strings.HasPrefix(strings.ToUpper(alg), "HS"):
		return fmt.Errorf("algorithm %q is refused: symmetric algorithms allow forging tokens with the provider's public key", alg)
	default:
		return fmt.Errorf("algorithm %q is not supported (want one of %v)", alg, supportedAlgorithms)
	}
}

// signingKeys is the check of an issuer's JWKS transport: it keeps the keys of the body that
// may verify a token with one of algs and answers them as a JWK Set, which is all go-oidc
// ever sees. go-oidc would try any key the set holds; this adds what it does not check: the
// JWK's own "use" and "alg", the minimum RSA size, and that no symmetric or private key is
// ever used. Unusable keys are skipped rather than failing the set, as a provider may
// publish more kinds of key than we verify with; a set with none left is an error (the
// provider is unusable: unavailable, not "bad token").
func signingKeys(algs map[string]bool) func([]byte) ([]byte, error) {
	return func(body []byte) ([]byte, error) {
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err := json.Unmarshal(body, &set); err != nil {
			return nil, fmt.Errorf("not a JWK Set: %w", err)
		}
		var keys []jose.JSONWebKey
		for _, raw := range set.Keys {
			var k jose.JSONWebKey
			if err := k.UnmarshalJSON(raw); err != nil || !k.Valid() || !usableKey(k, algs) {
				continue
			}
			keys = append(keys, k)
		}
		if len(keys) == 0 {
			return nil, errors.New("the JWK Set has no usable signing key")
		}
		return json.Marshal(jose.JSONWebKeySet{Keys: keys})
	}
}

// usableKey reports whether key may verify signatures of the issuer. go-jose (under go-oidc)
// refuses a key of the wrong type or curve for a token's algorithm.
func usableKey(key jose.JSONWebKey, algs map[string]bool) bool {
	if key.Use != "" && key.Use != "sig" {
		return false
	}
	if key.Algorithm != "" && !algs[key.Algorithm] {
		return false
	}
	switch pub := key.Key.(type) {
	case *rsa.PublicKey:
		return pub.N.BitLen() >= minRSABits
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return true
	}
	return false // symmetric, private (a broken provider) or unknown: never used
}
