package oidc

import (
	"errors"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

// claims are the parts of a token's payload that Verify reads. go-jose decodes them with its
// own JSON package, which matches names case-sensitively, so "SUB" is not "sub".
type claims struct {
	jwt.Claims
	Email         string `json:"email"`
	EmailVerified any    `json:"email_verified"`
	// Events is set only in back-channel logout tokens, which a provider signs for the same
	// audience and subject; one must never be replayable as a sign-in.
	Events any `json:"events"`
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

// check applies the registered-claim rules: exp required and not past, nbf and iat not in the
// future, each with skew; iss exactly the issuer's; aud sharing a value with the issuer's.
func (c *claims) check(is *issuer, now time.Time, skew time.Duration) error {
	switch {
	case c.Expiry == nil:
		return invalid("no exp claim: a token that never expires is not accepted")
	case c.Subject == "":
		return invalid("no sub claim")
	case c.Events != nil:
		return invalid("a logout token (events claim) cannot sign in")
	}
	err := c.Claims.ValidateWithLeeway(jwt.Expected{
		Issuer:      is.url,
		AnyAudience: is.audiences,
		Time:        now,
	}, skew)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jwt.ErrExpired):
		return invalid("expired")
	case errors.Is(err, jwt.ErrNotValidYet):
		return invalid("not valid yet (nbf)")
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return invalid("issued in the future (iat)")
	case errors.Is(err, jwt.ErrInvalidAudience):
		return invalid("audience not accepted by issuer %q", is.url)
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return invalid("issuer mismatch")
	}
	return invalid("claims: %v", err)
}
