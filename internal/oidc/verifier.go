package oidc

import (
	"context"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
)

// MaxTokenSize is the longest token Verify parses. Real access and ID tokens are 1-2 KiB; the
// bound keeps a hostile client from making us base64-decode and JSON-parse megabytes.
const MaxTokenSize = 16 << 10

// maxReason bounds the part of a go-oidc error a rejection repeats: it may quote claims
// (an audience list) that a provider let a user fill.
const maxReason = 200

// Verifier checks tokens from a fixed set of trusted issuers. It is safe for concurrent use.
type Verifier struct {
	issuers map[string]*issuer // by exact issuer URL
	// algs are the algorithms some issuer allows: the only ones the routing parse accepts,
	// so "none" and HS* are refused before any issuer is looked at.
	algs []jose.SignatureAlgorithm
	now  func() time.Time
	skew time.Duration
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
	for _, cfg := range issuers {
		is := compiled[cfg.URL]
		c := &gooidc.Config{
			SupportedSigningAlgs: is.algList,
			// go-oidc compares exp with Now and no leeway: its clock, set back by the skew,
			// accepts a token until skew after its exp.
			Now: func() time.Time { return o.now().Add(-o.skew) },
		}
		// go-oidc checks a single audience; with several, claims.check does (any of them).
		if len(is.audiences) == 1 {
			c.ClientID = is.audiences[0]
		} else {
			c.SkipClientIDCheck = true
		}
		is.verifier = gooidc.NewVerifier(is.url, newKeySet(is, cfg.JWKSURL, o), c)
	}
	for _, a := range supportedAlgorithms {
		for _, is := range compiled {
			if is.algs[a] {
				v.algs = append(v.algs, jose.SignatureAlgorithm(a))
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
	// The unverified header and "iss" only choose which issuer's rules and keys go-oidc
	// verifies the token with; nothing in them is trusted. Compact only: go-oidc would also
	// take the JSON serialization, which no provider issues as a bearer token.
	jws, err := jose.ParseSignedCompact(rawToken, v.algs)
	if err != nil {
		return nil, invalid("not a compact JWS with an allowed algorithm: %v", err)
	}
	if err := checkType(jws.Signatures[0].Header); err != nil {
		return nil, err
	}
	var route struct {
		Issuer string `json:"iss"`
	}
	if err := josejson.Unmarshal(jws.UnsafePayloadWithoutVerification(), &route); err != nil {
		return nil, invalid("payload is not a JSON claims object")
	}
	is, ok := v.issuers[route.Issuer]
	if !ok {
		return nil, invalid("unknown issuer %s", quote(route.Issuer))
	}

	var fetch fetchOutcome
	tok, err := is.verifier.Verify(context.WithValue(ctx, fetchOutcomeKey{}, &fetch), rawToken)
	if err != nil {
		if fetch.err != nil {
			return nil, fetch.err // the keys could not be fetched: nothing was decided
		}
		return nil, invalid("issuer %q: %s", is.url, clip(err.Error()))
	}
	c, err := verifiedClaims(tok)
	if err != nil {
		return nil, err
	}
	if err := c.check(is, tok, v.now(), v.skew); err != nil {
		return nil, err
	}
	return is.identify(c)
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

// clip cuts s to maxReason bytes.
func clip(s string) string {
	if len(s) > maxReason {
		return s[:maxReason] + "..."
	}
	return s
}
