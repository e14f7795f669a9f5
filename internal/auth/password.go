package auth

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/authgraph/authgraph/internal/audit"
)

// MinPasswordLen is the fewest characters a new password may have. With the maximum
// (128) and the list of common passwords, it is the whole policy: no composition rules
// (NIST SP 800-63B §3.1.1.2), so a long passphrase of lowercase words is fine.
const MinPasswordLen = 12

//go:embed common_passwords.txt
var commonPasswordList string

// commonPasswords holds the list, lowercased.
var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(commonPasswordList))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m[strings.ToLower(line)] = true
	}
	return m
}()

// CheckPassword applies the password policy to a new password of user username: 12 to 128
// characters of valid UTF-8, not the username, not one character repeated, not on the list
// of the most common passwords (compared without regard to case). It answers a
// BAD_USER_INPUT error that says which rule failed.
func CheckPassword(password, username string) error {
	n := utf8.RuneCountInString(password)
	lower := strings.ToLower(password)
	switch {
	case !utf8.ValidString(password):
		return Errorf(CodeInvalidInput, "password must be valid UTF-8")
	case n < MinPasswordLen:
		return Errorf(CodeInvalidInput, "password must be at least %d characters", MinPasswordLen)
	case n > maxPasswordLen:
		return Errorf(CodeInvalidInput, "password must be at most %d characters", maxPasswordLen)
	case strings.EqualFold(strings.TrimSpace(password), strings.TrimSpace(username)):
		return Errorf(CodeInvalidInput, "password must not be the username")
	case oneRepeated(password):
		return Errorf(CodeInvalidInput, "password must not be one character repeated")
	case commonPasswords[lower] || commonPasswords[strings.TrimFunc(lower, unicode.IsSpace)]:
		return Errorf(CodeInvalidInput, "password is too common: choose another (a few unrelated words make a good one)")
	}
	return nil
}

// ChangePassword changes the current user's password. It needs the account:write scope (so
// no key-made session can), a session signed in within the reauthentication window
// (REAUTHENTICATION_REQUIRED otherwise), the current password (INVALID_CREDENTIALS if
// wrong), and a new password that passes CheckPassword and differs from the current one.
// With endOtherSessions it then ends every other session of the user, key-made ones
// included; the current one goes on. It answers the user and how many sessions it ended.
//
// The old password stops working at once, even for a sign-in that verified it and is still
// running: the change bumps the user's PasswordVersion, and the store refuses a session
// bound to an older one (see Session.PasswordVersion). So with endOtherSessions no session
// made with the old password survives, whatever the interleaving. Sessions of other
// credentials (keys, external sign-ins) that start while it runs are not revoked by it.
//
// A call that fails after saving the new password (SERVICE_UNAVAILABLE while ending the
// other sessions) is retried as it was made: finding the password already next, the retry
// ends the other sessions and answers as the first call would have.
//
// The user's keys are left alone: they are separate credentials, listed in me.userKeys.
func (s *Service) ChangePassword(ctx context.Context, current, next string, endOtherSessions bool) (ret *User, ended int, rerr error) {
	defer func() { s.noteSelf(ctx, audit.PasswordChanged, rerr, fmt.Sprintf("ended %d sessions", ended)) }()
	p, err := requireScope(ctx, ScopeAccountWrite)
	if err != nil {
		return nil, 0, err
	}
	if err := s.RequireRecentAuthentication(ctx); err != nil {
		return nil, 0, err
	}
	if err := CheckPassword(next, p.User.Username); err != nil {
		return nil, 0, err
	}
	u, err := s.verifyCurrentPassword(ctx, p, current)
	if err != nil {
		if ErrorCode(err) == CodeInvalidCredentials && current != next {
			// Perhaps a retry of this session's own change, which saved the password but
			// failed before ending the other sessions: the password is next already. Only
			// the session that made the change may finish it so: for any other, next would
			// be a second guess at the password per attempt.
			if u, ok := s.changeToFinish(ctx, p, next); ok {
				return s.endOtherSessions(ctx, p, u, endOtherSessions)
			}
		}
		return nil, 0, err
	}
	if current == next {
		return nil, 0, Errorf(CodeInvalidInput, "the new password must differ from the current one")
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return nil, 0, fmt.Errorf("hash password: %w", err)
	}
	updated, err := s.users.UpdateUser(ctx, u.ID, func(cur *User) error {
		if cur.PasswordHash != u.PasswordHash {
			return errStale
		}
		cur.PasswordHash = hash
		// Revokes the old password: a sign-in that verified it and has not saved its
		// session yet now fails (see Session.PasswordVersion).
		cur.PasswordVersion++
		cur.PasswordChangedBy = p.Session.ID
		return nil
	})
	switch {
	case errors.Is(err, errStale):
		return nil, 0, Errorf(CodeConflict, "the password changed meanwhile; sign in again and retry")
	case errors.Is(err, ErrNotFound):
		return nil, 0, &Error{Code: CodeUnauthenticated, Message: MsgUnauthenticated}
	case err != nil:
		return nil, 0, fmt.Errorf("save password: %w", err)
	}
	return s.endOtherSessions(ctx, p, updated, endOtherSessions)
}

// changeToFinish answers the user if p's session made the last password change and next is
// that password: ChangePassword called again after failing past its save.
func (s *Service) changeToFinish(ctx context.Context, p *Principal, next string) (*User, bool) {
	u, err := s.users.User(ctx, p.User.ID)
	if err != nil || p.Session == nil || u.PasswordChangedBy != p.Session.ID {
		return nil, false
	}
	// next is checked against the stored hash: a guess like any other, counted as one, so
	// that a stolen session of the one that changed the password gets no second guess per
	// attempt.
	ip := ClientFrom(ctx).IP
	if err := s.checkLimit(ctx, AttemptPassword, ip, p.User.Username); err != nil {
		return nil, false
	}
	ok, _, err := s.hasher.Verify(ctx, next, u.PasswordHash)
	if err != nil || !ok {
		_, _ = s.recordLogin(ctx, AttemptPassword, ip, p.User.Username, nil, invalidCredentials())
		return nil, false
	}
	return u, true
}

// endOtherSessions is the end of ChangePassword, once u has the new password: with end set
// it ends every session of u but p's. The password change came first (it refuses the
// sign-ins with the old password still running), so nothing made with the old password
// survives this sweep.
func (s *Service) endOtherSessions(ctx context.Context, p *Principal, u *User, end bool) (*User, int, error) {
	if !end {
		return u, 0, nil
	}
	ended, err := s.sessions.DeleteSessionsOf(ctx, u.ID, p.Session.ID)
	if err != nil {
		return nil, 0, fmt.Errorf("end other sessions: %w", err)
	}
	return u, ended, nil
}

// verifyCurrentPassword is the proof of presence of every sensitive change that a stolen
// session must not make alone (ChangePassword, EnableTOTP, DisableTOTP): the current user's
// password, checked against the user record read for the check (not the principal's copy,
// read when the session was authenticated, possibly before a password change). It answers
// that user, or INVALID_CREDENTIALS, the login's answer to a wrong password.
//
// A stolen session may guess here, so every guess counts as a login's does (AttemptPassword,
// by address and username: one bucket for sign-ins and these checks) and is refused before
// any hashing once over the limit; the hashing runs in the same bounded pool as sign-ins.
func (s *Service) verifyCurrentPassword(ctx context.Context, p *Principal, password string) (*User, error) {
	ip := ClientFrom(ctx).IP
	if err := s.checkLimit(ctx, AttemptPassword, ip, p.User.Username); err != nil {
		return nil, err
	}
	if len(password) > 4*maxPasswordLen {
		// No password is that long; still the work of a Verify, so length is no shortcut.
		if err := s.verifyDummy(ctx, ""); err != nil {
			return nil, fmt.Errorf("verify password: %w", err)
		}
		_, err := s.recordLogin(ctx, AttemptPassword, ip, p.User.Username, nil, invalidCredentials())
		return nil, err
	}
	u, err := s.users.User(ctx, p.User.ID)
	if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	ok, _, err := s.hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("verify password: %w", err)
	}
	if !ok {
		_, err := s.recordLogin(ctx, AttemptPassword, ip, p.User.Username, nil, invalidCredentials())
		return nil, err
	}
	_, _ = s.recordLogin(ctx, AttemptPassword, ip, p.User.Username, nil, nil)
	return u, nil
}

// oneRepeated reports whether s (not empty) is one character repeated.
func oneRepeated(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return strings.Trim(s, string(r)) == ""
}
