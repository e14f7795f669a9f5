package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/authgraph/authgraph/internal/audit"
)

// DefaultReauthWindow is how recent a sign-in must be for a sensitive change when none is
// configured.
const DefaultReauthWindow = 15 * time.Minute

// RequireRecentAuthentication answers nil if the request's session was signed in (with a
// password, or through an external provider) within the reauthentication window, and a
// REAUTHENTICATION_REQUIRED error otherwise; the client signs in again and retries with the
// new session. A session made from a user key never passes: a key is a program's credential,
// not a proof that the person is there.
//
// Every sensitive change calls it: ChangePassword, EnableTOTP and DisableTOTP. A refreshed
// session keeps the time of the sign-in it continues, so refreshing proves nothing new.
func (s *Service) RequireRecentAuthentication(ctx context.Context) error {
	p, err := requirePrincipal(ctx)
	if err != nil {
		return err
	}
	sess := p.Session
	if sess == nil || sess.Method == MethodUserKey || sess.AuthenticatedAt.IsZero() ||
		s.clock.Now().Sub(sess.AuthenticatedAt) > s.cfg.ReauthWindow {
		return Errorf(CodeReauthenticationRequired,
			"This change needs a session signed in within the last %s: sign in again with your password and retry with the new session.",
			humanDuration(s.cfg.ReauthWindow))
	}
	return nil
}

// SessionsScope says which sessions DeleteSessions ends.
type SessionsScope string

// Scopes of DeleteSessions.
const (
	// SessionsOthers: every session of the user but the current one.
	SessionsOthers SessionsScope = "OTHERS"
	// SessionsAll: every session of the user, the current one included.
	SessionsAll SessionsScope = "ALL"
)

// DeleteSessions ends the current user's other sessions, or all of them, and answers how many
// it ended. It needs the sessions:write scope.
func (s *Service) DeleteSessions(ctx context.Context, which SessionsScope) (ret int, rerr error) {
	defer func() { s.noteSelf(ctx, audit.SessionsEnded, rerr, fmt.Sprintf("%s: %d", which, ret)) }()
	p, err := requireScope(ctx, ScopeSessionsWrite)
	if err != nil {
		return 0, err
	}
	var except int64
	switch which {
	case SessionsOthers:
		except = p.Session.ID
	case SessionsAll:
	default:
		return 0, Errorf(CodeInvalidInput, "scope must be OTHERS or ALL")
	}
	n, err := s.sessions.DeleteSessionsOf(ctx, p.User.ID, except)
	if err != nil {
		return 0, fmt.Errorf("delete sessions: %w", err)
	}
	return n, nil
}

// MaxRerollGrace bounds how long the previous secret of a rerolled key keeps working.
const MaxRerollGrace = 7 * 24 * time.Hour

// RerollUserKey gives one of the current user's keys a new secret, answered only here. The
// previous secret keeps making sessions for grace (0: not at all), then stops; rerolling
// again ends the grace of the secret before at once. Sessions already made from the key go
// on (delete the key to end them). A reroll is not a revocation, then, and a sign-in that
// verified the old secret just before it may still finish, as it would have a moment
// earlier; deleteUserKey is what is atomic with sign-ins in flight. Someone else's key is
// not found. Needs keys:write, and a session that covers the key's scopes: the new secret is
// the key, so a session narrower than the key would get a wider credential (see checkOwnKey).
func (s *Service) RerollUserKey(ctx context.Context, keyID int64, grace time.Duration) (ret *NewUserKey, rerr error) {
	defer func() { s.noteSelf(ctx, audit.KeyRerolled, rerr, "key "+strconv.FormatInt(keyID, 10)) }()
	p, err := requireScope(ctx, ScopeKeysWrite)
	if err != nil {
		return nil, err
	}
	if grace < 0 || grace > MaxRerollGrace {
		return nil, Errorf(CodeInvalidInput, "The grace period of the old secret must be from 0 to %s.", humanDuration(MaxRerollGrace))
	}
	// Checked before the argon2 work of the new secret, so a refusal costs none; the check in
	// the update below is the one that binds.
	if _, err := s.ownKeyFor(ctx, p, keyID, keyOpReroll); err != nil {
		return nil, err
	}
	for range 3 { // a new secret whose checksum equals the old one's: 1 in 2^32, try again
		secret, hash, err := s.newKeySecret(ctx)
		if err != nil {
			return nil, err
		}
		hint := SecretHint(secret)
		now := s.clock.Now().UTC()
		k, err := s.keys.UpdateKey(ctx, keyID, func(k *UserKey) error {
			if err := checkOwnKey(p, k, keyOpReroll); err != nil {
				return err
			}
			if k.SecretHint == hint {
				return errStale
			}
			k.PreviousSecretHash, k.PreviousSecretHint, k.PreviousSecretExpiresAt = "", "", nil
			if grace > 0 {
				until := now.Add(grace)
				k.PreviousSecretHash, k.PreviousSecretHint, k.PreviousSecretExpiresAt = k.SecretHash, k.SecretHint, &until
			}
			k.SecretHash, k.SecretHint = hash, hint
			return nil
		})
		switch {
		case errors.Is(err, errStale):
			continue
		case errors.Is(err, ErrNotFound):
			return nil, Errorf(CodeNotFound, "user key not found")
		case errors.As(err, new(*Error)):
			return nil, err // checkOwnKey's answer
		case err != nil:
			return nil, fmt.Errorf("reroll key: %w", err)
		}
		return &NewUserKey{Key: k, Secret: secret}, nil
	}
	return nil, errors.New("reroll key: no secret with a fresh checksum")
}

// humanDuration writes d for a message: "15 minutes", "1 hour", "90 seconds".
func humanDuration(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	}
	return unit(int64(d.Round(time.Second)/time.Second), "second")
}
