package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/authgraph/authgraph/internal/audit"
	"golang.org/x/text/unicode/norm"
)

// MaxEmailLen is the longest email address accepted, in bytes (RFC 5321's path limit less
// the angle brackets).
const MaxEmailLen = 254

const (
	maxEmailLocalLen = 64 // RFC 5321
	maxDomainLabel   = 63 // RFC 1035
)

// NormalizeEmail answers the one form of an email address that is stored, compared and
// made unique, or a CodeInvalidInput error saying what is wrong. The rule:
//
//   - Any control character (CR, LF, NUL, …) anywhere refuses the address: it is what a
//     header injection needs, and no address has one. Surrounding spaces are trimmed.
//   - The text is put in Unicode NFKC form, so that full-width or compatibility forms
//     ("ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ") become the ASCII address they look like.
//   - The result must be ASCII: internationalized addresses (non-ASCII local parts, domains
//     in Unicode form) are refused; a Unicode domain is accepted in its ASCII (xn--) form.
//     This is what rules out look-alikes made of mixed scripts (a Cyrillic "а" in
//     "pаypal.com"): none survives NFKC as ASCII.
//   - The whole address is lower-cased. RFC 5321 lets a server tell "Alice" from "alice" in
//     the local part, but no mail provider in common use does, and two users told apart only
//     by case would be look-alikes of each other.
//   - Syntax: local@domain with exactly one "@"; the local part 1–64 characters of letters,
//     digits and !#$%&'*+/=?^_`{|}~- in dot-separated runs (no quoted strings, no comments,
//     no leading, trailing or double dot); the domain at least two dot-separated labels of
//     1–63 letters, digits and hyphens, none starting or ending with a hyphen, the last not
//     all digits (no IP literals); at most MaxEmailLen bytes in all.
func NormalizeEmail(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", Errorf(CodeInvalidInput, "email must be valid UTF-8")
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", Errorf(CodeInvalidInput, "email must not contain control characters")
	}
	if len(s) > 4*MaxEmailLen {
		// Bounds the work of normalizing hostile input; NFKC can shrink text, but not by 4.
		return "", Errorf(CodeInvalidInput, "email must be at most %d characters", MaxEmailLen)
	}
	s = strings.TrimSpace(norm.NFKC.String(s))
	switch {
	case s == "":
		return "", Errorf(CodeInvalidInput, "email must not be empty")
	case len(s) > MaxEmailLen:
		return "", Errorf(CodeInvalidInput, "email must be at most %d characters", MaxEmailLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return "", Errorf(CodeInvalidInput, "email must be ASCII (write an international domain in its xn-- form)")
		}
	}
	s = strings.ToLower(s)
	local, domain, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(domain, "@") {
		return "", Errorf(CodeInvalidInput, "email must have exactly one @")
	}
	if !validLocalPart(local) {
		return "", Errorf(CodeInvalidInput, "email has an invalid part before the @")
	}
	if !validDomain(domain) {
		return "", Errorf(CodeInvalidInput, "email has an invalid domain")
	}
	return s, nil
}

func validLocalPart(local string) bool {
	if local == "" || len(local) > maxEmailLocalLen {
		return false
	}
	for _, run := range strings.Split(local, ".") {
		if run == "" {
			return false
		}
		for i := 0; i < len(run); i++ {
			c := run[i]
			if !isAlnum(c) && !strings.ContainsRune("!#$%&'*+/=?^_`{|}~-", rune(c)) {
				return false
			}
		}
	}
	return true
}

func validDomain(domain string) bool {
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > maxDomainLabel || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	return strings.IndexFunc(tld, func(r rune) bool { return r < '0' || r > '9' }) >= 0
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// issueEmailVerification makes the token of a mail that asks u to verify u.Email: it binds
// the address, so that it verifies nothing once the user's email is another.
func (s *Service) issueEmailVerification(ctx context.Context, u *User) (string, error) {
	if u.Email == "" {
		return "", fmt.Errorf("auth: issue email verification: user %d has no email", u.ID)
	}
	return s.issueEmailToken(ctx, PurposeVerifyEmail, u.ID, u.Email)
}

// VerifyEmail spends a verification token and marks the address it was sent to verified,
// if that is still the user's email (else the token is spent and TOKEN_INVALID answered,
// as for any other bad token). It needs no session: the token is the proof.
func (s *Service) VerifyEmail(ctx context.Context, plaintext string) (ret *User, rerr error) {
	defer func() { s.noteToken(ctx, audit.EmailVerified, ret, rerr) }()
	u, addr, err := s.consumeEmailToken(ctx, PurposeVerifyEmail, plaintext)
	if err != nil {
		return nil, err
	}
	// In the update, so that a change of email racing it is either before (and refused
	// here) or after (and starts unverified).
	updated, err := s.users.UpdateUser(ctx, u.ID, func(cur *User) error {
		if cur.Email == "" || cur.Email != addr {
			return errTokenInvalid()
		}
		cur.EmailVerified = true
		return nil
	})
	switch {
	case ErrorCode(err) == CodeTokenInvalid:
		return nil, err
	case errors.Is(err, ErrNotFound):
		return nil, errTokenInvalid()
	case err != nil:
		return nil, fmt.Errorf("auth: verify email: %w", err)
	}
	return updated, nil
}

// issueEmailChange makes the token of a mail to newEmail that confirms u's change to it,
// and answers it with the address in its normalized form (where the mail goes); the change
// is made only by ConfirmEmailChange. BAD_USER_INPUT for an address NormalizeEmail refuses.
//
// The token binds u's password version with the address: a change started with a password
// that has changed since (a reset is how an owner takes their account back from whoever
// knew it) must not go through, or that someone would own the address every reset goes to.
func (s *Service) issueEmailChange(ctx context.Context, u *User, newEmail string) (tok, normalized string, err error) {
	normalized, err = NormalizeEmail(newEmail)
	if err != nil {
		return "", "", err
	}
	tok, err = s.issueEmailToken(ctx, PurposeChangeEmail, u.ID, emailChangeBinding(u, normalized))
	return tok, normalized, err
}

// emailChangeBinding is the Extra of an email-change token: the password version and the
// new address, apart by a NUL (which no normalized address holds).
func emailChangeBinding(u *User, addr string) string {
	return strconv.FormatInt(u.PasswordVersion, 10) + "\x00" + addr
}

// ConfirmEmailChange spends an email-change token and makes the address it was sent to the
// user's email, verified (reading the mail proved it). CONFLICT if another user of the
// account has taken the address meanwhile; TOKEN_INVALID if the password has changed since
// the change was asked for (see issueEmailChange).
func (s *Service) ConfirmEmailChange(ctx context.Context, plaintext string) (ret *User, rerr error) {
	defer func() { s.noteToken(ctx, audit.EmailChanged, ret, rerr) }()
	u, extra, err := s.consumeEmailToken(ctx, PurposeChangeEmail, plaintext)
	if err != nil {
		return nil, err
	}
	_, addr, ok := strings.Cut(extra, "\x00")
	if !ok || addr == "" || extra != emailChangeBinding(u, addr) {
		return nil, errTokenInvalid() // the password changed since the change was asked for
	}
	updated, err := s.emails.SetEmail(ctx, u.ID, addr, true)
	switch {
	case errors.Is(err, ErrConflict):
		return nil, Errorf(CodeConflict, "that email address belongs to another user")
	case errors.Is(err, ErrNotFound):
		return nil, errTokenInvalid()
	case err != nil:
		return nil, fmt.Errorf("auth: confirm email change: %w", err)
	}
	return updated, nil
}
