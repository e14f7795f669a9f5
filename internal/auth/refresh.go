package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/token"
)

// Refreshable sessions.
//
// A refreshable sign-in starts a token Family: a short-lived access session (an ordinary
// Session with FamilyID set, AccessTokenTTL long) and a refresh token (RefreshTokenTTL long).
// Refresh trades the refresh token for a successor pair — a new access session and a new
// refresh token — and the traded token becomes single-use:
//
//   - Presented again within RefreshGrace of its rotation (two tabs refreshing at once), it
//     answers the very same successor pair, so no tab is logged out by the other.
//   - Presented again later, it is a reuse: one of its two holders is not the user. The whole
//     family is revoked (every access session and refresh token descending from the sign-in)
//     and the answer is REFRESH_TOKEN_REUSED.
//
// Refresh tokens slide: each successor lives RefreshTokenTTL from its own issue, so a client
// that comes back within that time stays signed in, and a client that does not must sign in
// again. Ending any session of a family (deleteSession, logout), deleting the user key it was
// made from, or the user's disappearance ends the whole family.
//
// Tokens are stored only as digests. To hand the same successor pair to every concurrent
// caller, the rotation stores that pair sealed (AES-256-GCM) under a key derived from the
// presented token's plaintext, for the grace window only: see seal.go.

// Defaults of the refresh settings.
const (
	DefaultAccessTokenTTL  = 15 * time.Minute    // short: a leaked one is soon worthless
	DefaultRefreshTokenTTL = 30 * 24 * time.Hour // as long as a plain session
	DefaultRefreshGrace    = 10 * time.Second
)

// CodeRefreshTokenReused answers a refresh with a token that was already traded for a
// successor before the grace window: its family has been revoked. (Kept here rather than in
// errors.go's list to keep this feature's edits to shared files small.)
const CodeRefreshTokenReused Code = "REFRESH_TOKEN_REUSED"

// MsgRefreshTokenReused is CodeRefreshTokenReused's message.
const MsgRefreshTokenReused = "This refresh token was already used. Every session of this sign-in has been ended; please sign in again."

func refreshDefaults(cfg Config) Config {
	if cfg.AccessTokenTTL <= 0 {
		cfg.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if cfg.RefreshTokenTTL <= 0 {
		cfg.RefreshTokenTTL = DefaultRefreshTokenTTL
	}
	switch {
	case cfg.RefreshGrace == 0:
		cfg.RefreshGrace = DefaultRefreshGrace
	case cfg.RefreshGrace < 0:
		cfg.RefreshGrace = 0
	}
	return cfg
}

// LoginOption changes how a sign-in makes its session.
type LoginOption func(*loginOptions)

type loginOptions struct{ refreshable bool }

// Refreshable asks for a refreshable session when on is true: a short-lived access token plus
// a refresh token, instead of one long-lived session token.
func Refreshable(on bool) LoginOption { return func(o *loginOptions) { o.refreshable = on } }

func loginOptionsOf(opts []LoginOption) loginOptions {
	var o loginOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Family is a refreshable sign-in: the chain of refresh tokens that one login started, each
// rotated into the next, and the access sessions they made. Revoking it ends them all.
type Family struct {
	ID        int64
	UserID    int64
	Method    SessionMethod
	UserKeyID int64 // 0 unless Method is MethodUserKey
	Name      string
	CreatedAt time.Time // when the sign-in happened
	// RefreshDigest is the digest of the family's current refresh token, which expires at
	// RefreshExpiresAt. Earlier tokens are remembered only to recognise their reuse.
	RefreshDigest    token.Digest
	RefreshExpiresAt time.Time
}

// RefreshStore keeps token families. Like every store, it answers ErrNotFound (wrapped) for
// what is missing or expired on its injected clock, and ErrUnavailable for an outage.
type RefreshStore interface {
	// CreateFamily assigns f.ID and saves f with its first refresh token (f.RefreshDigest,
	// until f.RefreshExpiresAt), and saves first, the family's first access session, as
	// CreateSession would, with first.FamilyID set to f.ID.
	CreateFamily(ctx context.Context, f *Family, first *Session) error
	// FamilyByRefreshDigest answers the family that issued the refresh token with digest d,
	// whether d is still its current token or was rotated already, as long as that token has
	// not expired and the family lives.
	FamilyByRefreshDigest(ctx context.Context, d token.Digest) (*Family, error)
	// Rotate is the atomic step of a refresh; see Rotation for what it does.
	Rotate(ctx context.Context, r *Rotation) (*RotationResult, error)
	// RevokeFamily ends family id of userID: every refresh token of it stops working and every
	// access session of it ends. ErrNotFound if userID has no such live family; of concurrent
	// calls for one family exactly one succeeds.
	RevokeFamily(ctx context.Context, userID, id int64) error
}

// Rotation is one refresh, applied by RefreshStore.Rotate in one atomic step against family
// FamilyID, of which Presented must be a refresh token (as FamilyByRefreshDigest found):
//
//   - Presented is the family's current token: it is rotated. Access is saved (as
//     CreateSession would, with FamilyID set), Next becomes the current token until
//     NextExpiresAt, and Sealed is kept with Presented for Grace. Outcome Rotated.
//   - Presented was rotated less than Grace ago (on Now): nothing changes; the answer carries
//     the Sealed pair that the rotation kept. Outcome Replayed.
//   - Presented was rotated Grace or more ago: the family is revoked as by RevokeFamily.
//     Outcome Reused.
//   - The family is gone, or its current token has expired: ErrNotFound, nothing changes.
//   - Access fails the checks of CreateSession (the user is disabled or gone, the family's
//     user key is revoked): ErrNotFound, nothing changes. The revocation that made it fail
//     ends the family (DeleteKey, DeleteSessionsOf, DeleteUser).
type Rotation struct {
	FamilyID      int64
	Presented     token.Digest
	Now           time.Time
	Next          token.Digest
	NextExpiresAt time.Time
	Access        *Session
	Sealed        []byte
	Grace         time.Duration
}

// RotationOutcome says what Rotate did.
type RotationOutcome int

// Rotation outcomes.
const (
	Rotated RotationOutcome = iota + 1
	Replayed
	Reused
)

// RotationResult is Rotate's answer. Sealed is set for Replayed: the successor pair that the
// winning rotation sealed.
type RotationResult struct {
	Outcome RotationOutcome
	Sealed  []byte
}

// startFamily makes a refreshable session: a new family with its first access session.
func (s *Service) startFamily(ctx context.Context, sess *Session) (*NewSession, error) {
	access, err := token.New(token.Session)
	if err != nil {
		return nil, fmt.Errorf("new access token: %w", err)
	}
	refresh, err := token.New(token.Refresh)
	if err != nil {
		return nil, fmt.Errorf("new refresh token: %w", err)
	}
	now := s.clock.Now().UTC()
	sess.TokenDigest = token.Sum(access)
	setSessionTimes(sess, now, now, s.cfg.AccessTokenTTL)
	setClient(sess, ClientFrom(ctx))
	f := &Family{
		UserID: sess.UserID, Method: sess.Method, UserKeyID: sess.UserKeyID, Name: sess.Name,
		CreatedAt: now, RefreshDigest: token.Sum(refresh), RefreshExpiresAt: now.Add(s.refreshTTL()),
	}
	if err := s.families.CreateFamily(ctx, f, sess); errors.Is(err, ErrNotFound) {
		return nil, invalidCredentials() // revoked meanwhile: see startSession
	} else if err != nil {
		return nil, fmt.Errorf("create token family: %w", err)
	}
	return &NewSession{Session: sess, Token: access, RefreshToken: refresh, RefreshExpiresAt: f.RefreshExpiresAt}, nil
}

// Refresh trades a refresh token for a successor pair (see the top of this file). An unknown,
// malformed, expired or revoked refresh token — an access token included — answers
// INVALID_CREDENTIALS, as any wrong credential given to a public mutation does; a token
// reused after the grace window answers REFRESH_TOKEN_REUSED.
//
// Every call counts against the Limiter (AttemptRefresh, by address) before any work.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (*NewSession, error) {
	var tr refreshTrace
	ns, err := s.refresh(ctx, refreshToken, &tr)
	s.noteRefresh(ctx, &tr, ns, err)
	return ns, err
}

// refreshTrace is what a refresh learned, for its event.
type refreshTrace struct {
	family *Family
	owner  *User
	ended  bool // the family was ended because its user or key is gone
}

// noteRefresh records a refresh: a success, a reuse (which ended the family: a second event
// says so), or a failure. A refresh token nobody issued is recorded without a subject.
func (s *Service) noteRefresh(ctx context.Context, tr *refreshTrace, ns *NewSession, err error) {
	if s.cfg.Auditor == nil {
		return
	}
	if _, limited := IsRateLimited(err); limited {
		return
	}
	e := audit.Event{Type: audit.Refresh, ActorKind: audit.Anonymous}
	if f := tr.family; f != nil {
		e.UserID, e.ActorKey, e.Detail = f.UserID, f.UserKeyID, "family "+strconv.FormatInt(f.ID, 10)
	}
	if tr.owner != nil {
		e.AccountID = tr.owner.AccountID
	}
	if ns != nil && ns.Session != nil {
		e.SessionID = ns.Session.ID
	}
	reused := ErrorCode(err) == CodeRefreshTokenReused
	if reused {
		e.Type = audit.RefreshReuse
	}
	outcomeOf(&e, err)
	s.record(ctx, e)
	if reused || tr.ended {
		e.Type, e.Outcome, e.Reason = audit.FamilyRevoked, audit.Success, "refresh_token_reused"
		if tr.ended {
			e.Reason = "user_or_key_gone"
		}
		s.record(ctx, e)
	}
}

func (s *Service) refresh(ctx context.Context, refreshToken string, tr *refreshTrace) (*NewSession, error) {
	client := ClientFrom(ctx)
	if err := s.checkLimit(ctx, AttemptRefresh, client.IP, ""); err != nil {
		return nil, err
	}
	if token.Check(token.Refresh, refreshToken) != nil {
		return nil, invalidCredentials()
	}
	presented := token.Sum(refreshToken)
	f, err := s.families.FamilyByRefreshDigest(ctx, presented)
	if errors.Is(err, ErrNotFound) {
		return nil, invalidCredentials()
	}
	if err != nil {
		return nil, fmt.Errorf("find token family: %w", err)
	}
	tr.family = f
	now := s.clock.Now().UTC()
	owner, key, err := s.familyMayContinue(ctx, f, now)
	if err != nil {
		tr.ended = ErrorCode(err) == CodeInvalidCredentials
		return nil, err
	}
	tr.owner = owner

	access, err := token.New(token.Session)
	if err != nil {
		return nil, fmt.Errorf("new access token: %w", err)
	}
	next, err := token.New(token.Refresh)
	if err != nil {
		return nil, fmt.Errorf("new refresh token: %w", err)
	}
	succ := successor{Access: access, Refresh: next, RefreshExpiresAt: now.Add(s.refreshTTL())}
	sealed, err := sealSuccessor(refreshToken, succ)
	if err != nil {
		return nil, fmt.Errorf("seal successor: %w", err)
	}
	// The successor is the same sign-in: it keeps the sign-in's time (a refresh is no new
	// proof of the user's credentials) and, made from a key, the key's current scopes and
	// expiry.
	sess := &Session{
		UserID: f.UserID, TokenDigest: token.Sum(access), Method: f.Method, UserKeyID: f.UserKeyID,
		Name: f.Name, FamilyID: f.ID,
	}
	if key != nil {
		sess.Scopes = key.EffectiveScopes(owner.Role)
		if key.ExpiresAt != nil {
			sess.ExpiresAt = *key.ExpiresAt
		}
	}
	setSessionTimes(sess, now, f.CreatedAt, s.cfg.AccessTokenTTL)
	setClient(sess, client)
	res, err := s.families.Rotate(ctx, &Rotation{
		FamilyID: f.ID, Presented: presented, Now: now,
		Next: token.Sum(next), NextExpiresAt: succ.RefreshExpiresAt,
		Access: sess, Sealed: sealed, Grace: s.cfg.RefreshGrace,
	})
	if errors.Is(err, ErrNotFound) {
		return nil, invalidCredentials()
	}
	if err != nil {
		return nil, fmt.Errorf("rotate refresh token: %w", err)
	}
	switch res.Outcome {
	case Rotated:
		return &NewSession{Session: sess, Token: access, RefreshToken: next, RefreshExpiresAt: succ.RefreshExpiresAt}, nil
	case Replayed:
		return s.replay(ctx, refreshToken, res.Sealed)
	case Reused:
		return nil, &Error{Code: CodeRefreshTokenReused, Message: MsgRefreshTokenReused}
	}
	return nil, fmt.Errorf("rotate refresh token: unknown outcome %d", res.Outcome)
}

// replay answers the successor pair that a concurrent refresh with the same token made.
func (s *Service) replay(ctx context.Context, refreshToken string, sealed []byte) (*NewSession, error) {
	succ, err := openSuccessor(refreshToken, sealed)
	if err != nil {
		// Only the holder of refreshToken could have sealed it: this is a bug or tampering.
		return nil, fmt.Errorf("open sealed successor: %w", err)
	}
	sess, err := s.sessions.SessionByDigest(ctx, token.Sum(succ.Access))
	if errors.Is(err, ErrNotFound) {
		return nil, invalidCredentials() // the family was revoked meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("find successor session: %w", err)
	}
	return &NewSession{Session: sess, Token: succ.Access, RefreshToken: succ.Refresh, RefreshExpiresAt: succ.RefreshExpiresAt}, nil
}

// familyMayContinue checks what a refresh depends on besides its token: the user still
// exists and is not disabled and, for a family made from a user key, the key still exists and
// has not expired (deleting a key ends its sessions, and a refresh must not outlive that). If
// not, the family is revoked and the answer is INVALID_CREDENTIALS. It answers the user and,
// for a key's family, the key.
func (s *Service) familyMayContinue(ctx context.Context, f *Family, now time.Time) (*User, *UserKey, error) {
	u, err := s.users.User(ctx, f.UserID)
	gone := errors.Is(err, ErrNotFound) || (err == nil && u.Disabled)
	if err != nil && !gone {
		return nil, nil, fmt.Errorf("find family user: %w", err)
	}
	var k *UserKey
	if !gone && f.Method == MethodUserKey {
		k, err = s.keys.Key(ctx, f.UserKeyID)
		switch {
		case errors.Is(err, ErrNotFound):
			gone = true
		case err != nil:
			return nil, nil, fmt.Errorf("find family user key: %w", err)
		default:
			gone = k.UserID != f.UserID || k.Expired(now)
		}
	}
	if !gone {
		return u, k, nil
	}
	if err := s.families.RevokeFamily(ctx, f.UserID, f.ID); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, nil, fmt.Errorf("revoke orphaned family: %w", err)
	}
	return nil, nil, invalidCredentials()
}

// refreshTTL is how long a refresh token lasts from its issue. Refresh tokens slide, so
// their lifetime is the longest a sign-in may sit unused; with an idle timeout configured it
// is at most the access token's lifetime plus the idle timeout (and lastUsedAt's precision):
// a client that goes unused that long finds its refresh token expired and must sign in again.
func (s *Service) refreshTTL() time.Duration {
	ttl := s.cfg.RefreshTokenTTL
	if idle := s.cfg.IdleTimeout; idle > 0 {
		ttl = min(ttl, s.cfg.AccessTokenTTL+idle+LastUsedPrecision)
	}
	return ttl
}

// endFamilyOf ends the family of sess (a refreshable session of userID): every access
// session and refresh token of it. ErrNotFound (wrapped) if it has ended already.
func (s *Service) endFamilyOf(ctx context.Context, userID int64, sess *Session) error {
	return s.families.RevokeFamily(ctx, userID, sess.FamilyID)
}
