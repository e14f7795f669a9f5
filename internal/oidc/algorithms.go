package oidc

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// defaultAlgorithms is what an Issuer accepts when it lists none: what Auth0, Okta, Google,
// Azure AD and Keycloak sign with by default.
var defaultAlgorithms = []string{"RS256", "ES256"}

// supportedAlgorithms are the asymmetric JWS algorithms an Issuer may allow. Symmetric
// algorithms (HS*) are left out on purpose: an HMAC key would have to be a secret shared with
// the provider, and accepting HS* where a public key is expected is the classic
// algorithm-confusion forgery (HMAC "signed" with the provider's public key). "none" is an
// unsigned token.
var supportedAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// minRSABits is the smallest RSA modulus accepted in a JWKS (NIST SP 800-131A).
const minRSABits = 2048

// checkAlgorithm reports whether alg may appear in an Issuer's allow-list, with a reason an
// operator can act on when it may not.
func checkAlgorithm(alg string) error {
	for _, a := range supportedAlgorithms {
		if string(a) == alg {
			return nil
		}
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

// keyFits reports whether key may verify a signature made with alg. go-jose refuses a key of
// the wrong type too; checking here as well keeps the rule in one visible place and adds what
// go-jose does not check: the JWK's own "use" and "alg", the curve of an EC key, and the
// minimum RSA size.
func keyFits(key jose.JSONWebKey, alg string) bool {
	if key.Use != "" && key.Use != "sig" {
		return false
	}
	if key.Algorithm != "" && key.Algorithm != alg {
		return false
	}
	switch pub := key.Key.(type) {
	case *rsa.PublicKey:
		return (strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")) && pub.N.BitLen() >= minRSABits
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return pub.Curve == elliptic.P256()
		case "ES384":
			return pub.Curve == elliptic.P384()
		case "ES512":
			return pub.Curve == elliptic.P521()
		}
		return false
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}
