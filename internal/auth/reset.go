package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/token"
)

// issuePasswordReset makes the token of a password-reset mail to u. It binds u's password
// version, so a password changed since (by any means, another reset included) voids it, and
// u's address, so a change of address voids it too: a link that reached the old mailbox must
// not take the account once its owner has moved away from that mailbox.
func (s *Service) issuePasswordReset(ctx context.Context, u *User) (string, error) {
	return s.issueEmailToken(ctx, PurposeResetPassword, u.ID, passwordBinding(PurposeResetPassword, u))
}

// passwordBinding is what a token that sets a password binds of its user: the password
// version (a password set since voids it) and the address it was mailed to (an address
// changed since voids it: only the mailbox the user has now may recover the account, and an
// invitation verifies the address, so it must be the one it was sent to).
func passwordBinding(_ TokenPurpose, u *User) string {
	return strconv.FormatInt(u.PasswordVersion, 10) + "|" + u.Email
}

// ResetPassword sets newPassword (which must pass the password policy) for the user a reset
// token was sent to, the token being the proof, and ends every session and refresh token
// family of the user. It answers the user.
//
// With TOTP on, otp (a TOTP or recovery code) is needed too: the mailbox alone is one
// factor. Until a valid one is given the answer is OTP_REQUIRED and the token stays unspent,
// so the client can ask for the code and send the same token again; each code tried counts
// against the limiter as a sign-in's does. A token of a disabled user, or of a password
// changed since it was sent, is TOKEN_INVALID like a used one.
//
// Counted per address (AttemptEmailToken) before any work; the user is told by mail that
// their password changed.
func (s *Service) ResetPassword(ctx context.Context, plaintext, newPassword, otp string) (ret *User, rerr error) {
	defer func() { s.noteUser(ctx, audit.PasswordReset, ret, rerr, "") }()
	if err := s.checkLimit(ctx, AttemptEmailToken, ClientFrom(ctx).IP, ""); err != nil {
		return nil, err
	}
	u, err := s.setPasswordByToken(ctx, PurposeResetPassword, plaintext, newPassword, otp)
	if err != nil {
		return nil, err
	}
	s.mailPasswordChanged(ctx, u)
	return u, nil
}

// setPasswordByToken sets newPassword for the user a token of purpose (a reset or an
// invitation, bound to the user's password version) was mailed to, asks for the second
// factor, ends every session and family of the user, and marks the address verified when
// it is still the one the token was sent to (only that address could have read it).
func (s *Service) setPasswordByToken(ctx context.Context, purpose TokenPurpose, plaintext, newPassword, otp string) (*User, error) {
	if token.Check(token.Emailed, plaintext) != nil {
		return nil, errTokenInvalid()
	}
	d := token.Sum(plaintext)
	// Read, not spent: the checks below may send the client back for a second factor.
	t, err := s.emails.EmailToken(ctx, purpose, d)
	if err != nil {
		return nil, tokenStoreError(err)
	}
	u, err := s.users.User(ctx, t.UserID)
	if err != nil {
		return nil, tokenStoreError(err)
	}
	if u.Disabled || t.Extra != passwordBinding(purpose, u) {
		return nil, errTokenInvalid()
	}
	if err := CheckPassword(newPassword, u.Username); err != nil {
		return nil, err
	}
	if err := s.checkSecondFactor(ctx, ClientFrom(ctx).IP, u.ID, otp); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, newPassword)
	if err != nil {
		return nil, fmt.Errorf("auth: reset password: hash: %w", err)
	}
	// Spent here, exactly once: of concurrent resets with one token, one goes on.
	if _, err := s.emails.ConsumeEmailToken(ctx, purpose, d); err != nil {
		return nil, tokenStoreError(err)
	}
	updated, err := s.users.UpdateUser(ctx, u.ID, func(cur *User) error {
		if passwordBinding(purpose, cur) != t.Extra || cur.Disabled {
			return errTokenInvalid()
		}
		cur.PasswordHash = hash
		// Revokes the old password first (see User.PasswordVersion); the sessions go second.
		cur.PasswordVersion++
		cur.PasswordChangedBy = 0
		if purpose == PurposeInvite {
			// The invitation was bound to this address (passwordBinding): it reached it.
			cur.EmailVerified = true
		}
		return nil
	})
	switch {
	case ErrorCode(err) == CodeTokenInvalid:
		return nil, err
	case errors.Is(err, ErrNotFound):
		return nil, errTokenInvalid()
	case err != nil:
		return nil, fmt.Errorf("auth: reset password: %w", err)
	}
	// The token is spent, so the user cannot retry this: the sweep retries itself (every
	// call is idempotent) before it gives up.
	for attempt := 0; ; attempt++ {
		if _, err = s.sessions.DeleteSessionsOf(ctx, u.ID, 0); err == nil || attempt == 2 {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("auth: reset password: end sessions: %w", err)
	}
	return updated, nil
}
