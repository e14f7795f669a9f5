package oidc

import (
	"encoding/json"
	"slices"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"
)

// claims are the parts of a verified token's payload that Verify reads, decoded again with
// go-jose's JSON package, which matches names exactly: encoding/json, which go-oidc decodes
// with, matches them ignoring case and keeps the last, so a payload holding "sub" and "SUB"
// could show go-oidc one subject and the allow-list another. check requires both readings
// to agree.
type claims struct {
	Issuer        string           `json:"iss"`
	Subject       string           `json:"sub"`
	Audience      jwt.Audience     `json:"aud"`
	Expiry        *jwt.NumericDate `json:"exp"`
	NotBefore     *jwt.NumericDate `json:"nbf"`
	IssuedAt      *jwt.NumericDate `json:"iat"`
	Email         string           `json:"email"`
	EmailVerified any              `json:"email_verified"`
	// Events is set only in back-channel logout tokens, which a provider signs for the same
	// audience and subject; one must never be replayable as a sign-in.
	Events any `json:"events"`
}

// verifiedClaims decodes the payload of a token go-oidc has verified.
func verifiedClaims(tok *gooidc.IDToken) (*claims, error) {
	var payload json.RawMessage
	if err := tok.Claims(&payload); err != nil {
		return nil, invalid("claims: %v", err)
	}
	var c claims
	if err := josejson.Unmarshal(payload, &c); err != nil {
		return nil, invalid("claims: %v", err)
	}
	return &c, nil
}

// emailVerified reports whether the provider vouches for Email: JSON true, or the string
// "true" that some providers (Amazon Cognito) send instead.
func (c *claims) emailVerified() bool {
	switch v := c.EmailVerified.(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// check applies the rules go-oidc leaves to its caller, after it verified the signature,
// the algorithm, iss, exp (with the skew: see New) and, for an issuer with one audience,
// aud: our reading of iss, sub, aud and exp must be go-oidc's; sub is required; aud shares a
// value with the issuer's; nbf and iat are not in the future, with skew (go-oidc allows nbf
// 5 minutes and does not look at iat); no logout token.
func (c *claims) check(is *issuer, tok *gooidc.IDToken, now time.Time, skew time.Duration) error {
	switch {
	case c.Issuer != tok.Issuer || c.Subject != tok.Subject || !slices.Equal([]string(c.Audience), tok.Audience) ||
		c.Expiry == nil || c.Expiry.Time().Unix() != tok.Expiry.Unix():
		return invalid("claims named twice, in different letter case")
	case c.Subject == "":
		return invalid("no sub claim")
	case c.Events != nil:
		return invalid("a logout token (events claim) cannot sign in")
	case !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(is.audiences, a) }):
		return invalid("audience not accepted by issuer %q", is.url)
	case c.NotBefore != nil && c.NotBefore.Time().After(now.Add(skew)):
		return invalid("not valid yet (nbf)")
	case c.IssuedAt != nil && c.IssuedAt.Time().After(now.Add(skew)):
		return invalid("issued in the future (iat)")
	}
	return nil
}
