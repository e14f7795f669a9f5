package oidc

import (
	"context"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// MaxTokenSize is the longest token Verify parses. Real access and ID tokens are 1-2 KiB; the
// bound keeps a hostile client from making us base64-decode and JSON-parse megabytes.
const MaxTokenSize = 16 << 10

// Verifier checks tokens from a fixed set of trusted issuers. It is safe for concurrent use.
type Verifier struct {
	issuers map[string]*issuer // by exact issuer URL
	algs    []jose.SignatureAlgorithm
	now     func() time.Time
	skew    time.Duration
}

// New validates the issuers and options and returns a Verifier. It does no network I/O: each
// issuer's keys are discovered and fetched on the first token that names it, so the server
// starts while a provider is unreachable, and sign-ins through it answer ErrUnavailable
// until it is back. ctx is not retained.
func New(ctx context.Context, issuers []Issuer, opts ...Option) (*Verifier, error) {
	_ = ctx // reserved for eager fetching; nothing to cancel while New is offline
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	compiled, err := compileAll(issuers)
	if err != nil {
		return nil, err
	}
	v := &Verifier{issuers: compiled, now: o.now, skew: o.skew}
	for i := range issuers {
		is := compiled[issuers[i].URL]
		is.keys = newKeySet(is.url, issuers[i].JWKSURL, o)
	}
	for _, a := range supportedAlgorithms {
		for _, is := range compiled {
			if is.algs[string(a)] {
				v.algs = append(v.algs, a)
				break
			}
		}
	}
	return v, nil
}

// Verify checks rawToken and returns the identity it signs in as. The token must be a compact
// JWS from a configured issuer, signed with an allowed algorithm by a key in that issuer's
// JWKS, unexpired, already valid, for one of the issuer's audiences, and its subject or
// verified email must be allowed. Errors match ErrInvalidToken (ErrNotAllowed too when only
// the allow-list refused) or ErrUnavailable; see the package doc.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (*Identity, error) {
	if rawToken == "" {
		return nil, invalid("empty token")
	}
	if len(rawToken) > MaxTokenSize {
		return nil, invalid("longer than %d bytes", MaxTokenSize)
	}
	// Only algorithms some issuer allows get past parsing: "none" and HS* never do.
	tok, err := jwt.ParseSigned(rawToken, v.algs)
	if err != nil {
		return nil, invalid("not a JWS with an allowed algorithm: %v", err)
	}
	if len(tok.Headers) != 1 {
		return nil, invalid("want exactly one signature")
	}
	hdr := tok.Headers[0]
	if err := checkType(hdr); err != nil {
		return nil, err
	}

	// The unverified "iss" only chooses which issuer's rules and keys to verify with; the
	// payload is trusted only after that issuer's key has verified it.
	var route struct {
		Issuer string `json:"iss"`
	}
	if err := tok.UnsafeClaimsWithoutVerification(&route); err != nil {
		return nil, invalid("payload is not a JSON claims object")
	}
	is, ok := v.issuers[route.Issuer]
	if !ok {
		return nil, invalid("unknown issuer %s", quote(route.Issuer))
	}
	if !is.algs[hdr.Algorithm] {
		return nil, invalid("algorithm %s is not allowed for issuer %q", hdr.Algorithm, is.url)
	}

	c, err := is.verifySignature(ctx, tok, hdr)
	if err != nil {
		return nil, err
	}
	if err := c.check(is, v.now(), v.skew); err != nil {
		return nil, err
	}
	return is.identify(c)
}

// verifySignature finds the issuer's key for the token's "kid" and verifies the signature
// with it, returning the then-trustworthy claims.
func (is *issuer) verifySignature(ctx context.Context, tok *jwt.JSONWebToken, hdr jose.Header) (*claims, error) {
	keys, err := is.keys.lookup(ctx, hdr.KeyID)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, invalid("issuer %q publishes no key with kid %s", is.url, quote(hdr.KeyID))
	}
	if verifyWithAny(tok, keys, hdr.Algorithm) {
		return decodeClaims(tok)
	}
	if hdr.KeyID == "" {
		// Without a key ID a rotation looks like a bad signature: refetch (rate-limited) once.
		if keys, _ := is.keys.refresh(ctx); verifyWithAny(tok, keys, hdr.Algorithm) {
			return decodeClaims(tok)
		}
	}
	return nil, invalid("signature not verified by the keys of issuer %q", is.url)
}

// verifyWithAny reports whether one of keys that fits alg verified tok's signature.
func verifyWithAny(tok *jwt.JSONWebToken, keys []jose.JSONWebKey, alg string) bool {
	for _, k := range keys {
		if keyFits(k, alg) && tok.Claims(k.Key) == nil {
			return true
		}
	}
	return false
}

// decodeClaims decodes the payload of a token whose signature has been verified.
func decodeClaims(tok *jwt.JSONWebToken) (*claims, error) {
	var c claims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return nil, invalid("claims: %v", err)
	}
	return &c, nil
}

// checkType refuses tokens whose "typ" says they are something other than an ID or access
// token (RFC 9068's "at+jwt"), e.g. a "logout+jwt", so that one kind of signed token cannot
// be replayed as another. A missing "typ" is accepted: many providers omit it.
func checkType(hdr jose.Header) error {
	raw, ok := hdr.ExtraHeaders[jose.HeaderType]
	if !ok {
		return nil
	}
	typ, _ := raw.(string)
	switch strings.TrimPrefix(lowerASCII(typ), "application/") {
	case "jwt", "at+jwt":
		return nil
	}
	return invalid("token type %s is not accepted", quote(typ))
}
