package oidc

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error Verify returns matches exactly one of ErrInvalidToken or
// ErrUnavailable under errors.Is; rejections for an identity that is not allowed match
// ErrNotAllowed as well as ErrInvalidToken. No error message ever contains the raw token.
var (
	// ErrInvalidToken: the token is rejected. Callers answer INVALID_CREDENTIALS.
	ErrInvalidToken = errors.New("oidc: invalid token")
	// ErrNotAllowed: the token is valid but its subject or email is not allowed to sign in.
	// Callers answer it exactly like ErrInvalidToken, so it also matches ErrInvalidToken.
	ErrNotAllowed = errors.New("oidc: identity not allowed")
	// ErrUnavailable: the issuer's discovery document or JWKS could not be fetched, so the
	// token could be neither accepted nor rejected. Callers answer 503.
	ErrUnavailable = errors.New("oidc: identity provider unavailable")
)

// invalid returns a rejection that wraps ErrInvalidToken. Callers must never pass the raw
// token (or a part of it) as an argument.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
}

// notAllowedError is a rejection of a genuine token whose identity is not on the allow-list.
// It matches both ErrNotAllowed and ErrInvalidToken, so that a caller checking only the
// latter still answers it as bad credentials.
type notAllowedError struct{ detail string }

func (e *notAllowedError) Error() string   { return ErrNotAllowed.Error() + ": " + e.detail }
func (e *notAllowedError) Unwrap() []error { return []error{ErrNotAllowed, ErrInvalidToken} }

// unavailable wraps err (a network, HTTP or document error) with ErrUnavailable.
func unavailable(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
}

// quote renders an attacker-controlled string (an issuer, a subject, a key ID) for an error
// message: quoted, so control characters cannot forge log lines, and cut short, so a
// 16 KiB claim cannot flood the logs.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
