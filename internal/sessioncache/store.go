package sessioncache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/token"
)

// Defaults of Options.
const (
	DefaultTTL  = 10 * time.Second
	DefaultSize = 100_000
)

// Options configures a Store.
type Options struct {
	// TTL bounds how long a cached record is used without asking the store again: the
	// staleness a replica can show if it misses an invalidation without noticing. Default
	// DefaultTTL.
	TTL time.Duration
	// Size is how many sessions (and, separately, users) are kept at most; the least
	// recently used go first. Default DefaultSize.
	Size int
	// Clock decides when entries expire; it must be the wrapped store's. Default clock.Real.
	Clock clock.Clock
	// OnEvent, if set, is told when the invalidation channel comes up or goes down, and when
	// a publish fails (err set). It must not block.
	OnEvent func(e Event, err error)
	// PublishTimeout bounds each publish. Default one second.
	PublishTimeout time.Duration
}

// Event is what Options.OnEvent is told.
type Event int

// Events.
const (
	EventUp            Event = iota + 1 // subscribed: the cache is in use
	EventDown                           // the channel failed: the cache is flushed and bypassed
	EventPublishFailed                  // an invalidation could not be sent
)

func (e Event) String() string {
	switch e {
	case EventUp:
		return "up"
	case EventDown:
		return "down"
	case EventPublishFailed:
		return "publish failed"
	}
	return fmt.Sprintf("Event(%d)", int(e))
}

// Store is an auth.Store that answers SessionByDigest and User from memory when it can, and
// passes everything else to the store it wraps. Close it to stop listening on the bus.
type Store struct {
	next    auth.Store
	bus     Bus
	c       *cache
	clock   clock.Clock
	onEvent func(Event, error)
	pubTO   time.Duration

	cancel  context.CancelFunc
	done    chan struct{}
	upOnce  sync.Once
	upCh    chan struct{} // closed when first live
	pubFail atomic.Uint64
}

var _ auth.Store = (*Store)(nil)

// New wraps next, and listens on bus until Close. The cache is bypassed until bus is
// subscribed, and whenever it is not.
func New(next auth.Store, bus Bus, opts Options) *Store {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Size <= 0 {
		opts.Size = DefaultSize
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		next: next, bus: bus, c: newCache(opts.Size, opts.TTL), clock: opts.Clock,
		onEvent: opts.OnEvent, pubTO: opts.PublishTimeout,
		cancel: cancel, done: make(chan struct{}), upCh: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		bus.Run(ctx, listener{s})
	}()
	return s
}

// Close stops listening, and leaves the cache bypassed. It does not close the wrapped store.
func (s *Store) Close() error {
	s.cancel()
	<-s.done
	s.c.setLive(false)
	return nil
}

// WaitLive waits until the cache is first in use, or ctx ends: for tests and benchmarks that
// want to measure the cache, not its start.
func (s *Store) WaitLive(ctx context.Context) error {
	select {
	case <-s.upCh:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Live reports whether the cache is in use now.
func (s *Store) Live() bool { return s.c.live.Load() }

// Stats answers the cache's counters.
func (s *Store) Stats() Stats {
	st := s.c.stats()
	st.PublishFailures = s.pubFail.Load()
	return st
}

type listener struct{ s *Store }

func (l listener) Up() {
	l.s.c.setLive(true)
	l.s.event(EventUp, nil) // before WaitLive returns, so that the event comes first
	l.s.upOnce.Do(func() { close(l.s.upCh) })
}

func (l listener) Down(err error) {
	wasLive := l.s.c.live.Load()
	l.s.c.setLive(false)
	if wasLive {
		l.s.event(EventDown, err)
	}
}

func (l listener) Message(msg []byte) { l.s.c.apply(msg) }

func (s *Store) event(e Event, err error) {
	if s.onEvent != nil {
		s.onEvent(e, err)
	}
}

// SessionByDigest implements auth.SessionStore from the cache when it can. A miss, or an
// unknown token, goes to the wrapped store; only found sessions are cached, so a flood of
// made-up tokens costs store lookups (as without a cache) but evicts nothing.
func (s *Store) SessionByDigest(ctx context.Context, d token.Digest) (*auth.Session, error) {
	now := s.clock.Now()
	if sess, ok := s.c.session(d, now); ok {
		return copySession(sess), nil
	}
	epoch, live := s.c.snapshot()
	sess, err := s.next.SessionByDigest(ctx, d)
	if err == nil && live && sess.TokenDigest == d {
		s.c.putSession(epoch, copySession(sess), now)
	}
	return sess, err
}

// User implements auth.UserStore from the cache when it can.
func (s *Store) User(ctx context.Context, id int64) (*auth.User, error) {
	now := s.clock.Now()
	if u, ok := s.c.user(id, now); ok {
		cp := *u
		return &cp, nil
	}
	epoch, live := s.c.snapshot()
	u, err := s.next.User(ctx, id)
	if err == nil && live && u.ID == id {
		cp := *u
		s.c.putUser(epoch, &cp, now)
	}
	return u, err
}

// The records handed out are copies: a caller may change its own without changing what
// other requests see.
func copySession(s *auth.Session) *auth.Session {
	cp := *s
	if s.LastUsedAt != nil {
		t := *s.LastUsedAt
		cp.LastUsedAt = &t
	}
	return &cp
}

// EndSessions forgets sessions here and on every replica: call it after the store has ended
// them. It never fails: a lost message is bounded by the TTL (and counted, and reported to
// OnEvent).
func (s *Store) EndSessions(ctx context.Context, digests ...token.Digest) {
	for _, d := range digests {
		s.c.dropSession(d)
		s.publish(ctx, sessionMsg(d))
	}
}

// UserChanged forgets a user record here and on every replica: call it after the store has
// changed or deleted the user (password, role, disabled, deleted…).
func (s *Store) UserChanged(ctx context.Context, id int64) {
	s.c.dropUser(id)
	s.publish(ctx, userMsg(msgUser, id))
}

// EndUserSessions forgets a user record and all the user's sessions, here and on every
// replica: call it after the store has ended them all (or when it is not sure which ended).
func (s *Store) EndUserSessions(ctx context.Context, id int64) {
	s.c.dropUserSessions(id)
	s.publish(ctx, userMsg(msgUserSessions, id))
}

// EndFamily forgets every access session of a refresh token family, here and on every
// replica: call it after the store has revoked the family (or when it is not sure).
func (s *Store) EndFamily(ctx context.Context, id int64) {
	s.c.dropFamilySessions(id)
	s.publish(ctx, userMsg(msgFamily, id))
}

// publish sends msg, bounded in time and detached from ctx's cancellation: the store has
// already made the change, and a client that hangs up must not keep other replicas from
// hearing of it.
func (s *Store) publish(ctx context.Context, msg []byte) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.pubTO)
	defer cancel()
	if err := s.bus.Publish(pctx, msg); err != nil {
		s.pubFail.Add(1)
		s.event(EventPublishFailed, err)
	}
}

// ---- Methods that end sessions or change users: they publish. ----

// DeleteKey implements auth.KeyStore, and publishes the end of the user's sessions: the
// store ends the sessions made from the key itself, and their digests are not known here.
// Keys are not cached. A call that failed uncertainly may have ended some, so it publishes
// too; ErrNotFound ended nothing.
func (s *Store) DeleteKey(ctx context.Context, userID, id int64) (*auth.UserKey, error) {
	k, err := s.next.DeleteKey(ctx, userID, id)
	if !errors.Is(err, auth.ErrNotFound) {
		s.EndUserSessions(ctx, userID)
	}
	return k, err
}

// DeleteSession implements auth.SessionStore, and publishes the end of the session. When the
// store fails without saying whether the session ended, all the user's sessions are
// invalidated: the digest is not known here, and too much is safe.
func (s *Store) DeleteSession(ctx context.Context, userID, id int64) (*auth.Session, error) {
	sess, err := s.next.DeleteSession(ctx, userID, id)
	switch {
	case err == nil:
		s.EndSessions(ctx, sess.TokenDigest)
	case !errors.Is(err, auth.ErrNotFound):
		s.EndUserSessions(ctx, userID)
	}
	return sess, err
}

// SetPasswordHash implements auth.UserStore, and publishes the change of the user.
func (s *Store) SetPasswordHash(ctx context.Context, id int64, hash string) error {
	err := s.next.SetPasswordHash(ctx, id, hash)
	if !errors.Is(err, auth.ErrNotFound) {
		s.UserChanged(ctx, id)
	}
	return err
}

// Rotate implements auth.RefreshStore. A reuse revokes the family, whose access sessions
// end: that is published. So is a failure that may have been a reuse. A rotation proper ends
// no session (the earlier access session lives out its short life) and a replay none.
func (s *Store) Rotate(ctx context.Context, r *auth.Rotation) (*auth.RotationResult, error) {
	res, err := s.next.Rotate(ctx, r)
	switch {
	case err == nil && res.Outcome == auth.Reused:
		s.EndFamily(ctx, r.FamilyID)
	case err != nil && !errors.Is(err, auth.ErrNotFound) && !errors.Is(err, auth.ErrConflict):
		s.EndFamily(ctx, r.FamilyID)
	}
	return res, err
}

// RevokeFamily implements auth.RefreshStore, and publishes the end of the family's access
// sessions (also when the store failed without saying whether it revoked it).
func (s *Store) RevokeFamily(ctx context.Context, userID, id int64) error {
	err := s.next.RevokeFamily(ctx, userID, id)
	if !errors.Is(err, auth.ErrNotFound) {
		s.EndFamily(ctx, id)
	}
	return err
}

// UpdateUser implements auth.LifecycleStore, and publishes the change of the user (a role,
// a password, disabled…): Authenticate reads the user on every request.
func (s *Store) UpdateUser(ctx context.Context, id int64, edit func(*auth.User) error) (*auth.User, error) {
	u, err := s.next.UpdateUser(ctx, id, edit)
	if !errors.Is(err, auth.ErrNotFound) {
		s.UserChanged(ctx, id)
	}
	return u, err
}

// DeleteUser implements auth.LifecycleStore, and publishes the end of the user and of all
// their sessions.
func (s *Store) DeleteUser(ctx context.Context, id int64) (*auth.User, error) {
	u, err := s.next.DeleteUser(ctx, id)
	if !errors.Is(err, auth.ErrNotFound) {
		s.EndUserSessions(ctx, id)
	}
	return u, err
}

// DeleteSessionsOf implements auth.LifecycleStore, and publishes the end of all the user's
// sessions (the one kept, if any, is simply read again).
func (s *Store) DeleteSessionsOf(ctx context.Context, userID, exceptID int64) (int, error) {
	n, err := s.next.DeleteSessionsOf(ctx, userID, exceptID)
	if !errors.Is(err, auth.ErrNotFound) {
		s.EndUserSessions(ctx, userID)
	}
	return n, err
}

// TouchSession implements auth.LifecycleStore. The session's LastUsedAt changes, and the
// idle timeout reads it: every replica forgets its copy (an EndSessions message), so that
// none judges the session idle on a LastUsedAt older than the store's. The service touches a
// session at most once a minute (auth.LastUsedPrecision), so this costs each replica one
// more read of an active session per minute.
func (s *Store) TouchSession(ctx context.Context, sess *auth.Session, at time.Time) error {
	err := s.next.TouchSession(ctx, sess, at)
	if !errors.Is(err, auth.ErrNotFound) {
		s.EndSessions(ctx, sess.TokenDigest)
	}
	return err
}

// ---- Methods that change nothing cached: passed through. ----

// CreateUser implements auth.UserStore. A new user cannot be cached yet (misses are not).
func (s *Store) CreateUser(ctx context.Context, u *auth.User) error {
	return s.next.CreateUser(ctx, u)
}

// UserByUsername implements auth.UserStore. Not cached: it is on the login path only, which
// the password hash dominates.
func (s *Store) UserByUsername(ctx context.Context, accountID int64, username string) (*auth.User, error) {
	return s.next.UserByUsername(ctx, accountID, username)
}

// AccountsWithUsername implements auth.UserStore.
func (s *Store) AccountsWithUsername(ctx context.Context, username string) ([]int64, error) {
	return s.next.AccountsWithUsername(ctx, username)
}

// CreateFamily implements auth.RefreshStore. Its first access session is cached at its first
// use, like any new session.
func (s *Store) CreateFamily(ctx context.Context, f *auth.Family, first *auth.Session) error {
	return s.next.CreateFamily(ctx, f, first)
}

// FamilyByRefreshDigest implements auth.RefreshStore. Not cached: a refresh is rare next to
// the requests its access token makes, and must see revocations at once.
func (s *Store) FamilyByRefreshDigest(ctx context.Context, d token.Digest) (*auth.Family, error) {
	return s.next.FamilyByRefreshDigest(ctx, d)
}

// CreateAccount implements auth.AccountStore.
func (s *Store) CreateAccount(ctx context.Context, a *auth.Account) error {
	return s.next.CreateAccount(ctx, a)
}

// Account implements auth.AccountStore. Not cached: Authenticate does not read it.
func (s *Store) Account(ctx context.Context, id int64) (*auth.Account, error) {
	return s.next.Account(ctx, id)
}

// AccountBySlug implements auth.AccountStore.
func (s *Store) AccountBySlug(ctx context.Context, slug string) (*auth.Account, error) {
	return s.next.AccountBySlug(ctx, slug)
}

// The second factor is checked at sign-in only; Authenticate reads none of it, so the TOTP
// methods pass through.

// SetPendingTOTP implements auth.TOTPStore.
func (s *Store) SetPendingTOTP(ctx context.Context, userID int64, p *auth.PendingTOTP) error {
	return s.next.SetPendingTOTP(ctx, userID, p)
}

// PendingTOTP implements auth.TOTPStore.
func (s *Store) PendingTOTP(ctx context.Context, userID int64) (*auth.PendingTOTP, error) {
	return s.next.PendingTOTP(ctx, userID)
}

// EnableTOTP implements auth.TOTPStore.
func (s *Store) EnableTOTP(ctx context.Context, userID int64, secret []byte, step int64, recovery []token.Digest) error {
	return s.next.EnableTOTP(ctx, userID, secret, step, recovery)
}

// TOTP implements auth.TOTPStore.
func (s *Store) TOTP(ctx context.Context, userID int64) (*auth.TOTP, error) {
	return s.next.TOTP(ctx, userID)
}

// UseTOTPStep implements auth.TOTPStore.
func (s *Store) UseTOTPStep(ctx context.Context, userID int64, step int64) error {
	return s.next.UseTOTPStep(ctx, userID, step)
}

// UseRecoveryCode implements auth.TOTPStore.
func (s *Store) UseRecoveryCode(ctx context.Context, userID int64, d token.Digest) error {
	return s.next.UseRecoveryCode(ctx, userID, d)
}

// DisableTOTP implements auth.TOTPStore.
func (s *Store) DisableTOTP(ctx context.Context, userID int64) error {
	return s.next.DisableTOTP(ctx, userID)
}

// CreateKey implements auth.KeyStore.
func (s *Store) CreateKey(ctx context.Context, k *auth.UserKey) error {
	return s.next.CreateKey(ctx, k)
}

// Key implements auth.KeyStore.
func (s *Store) Key(ctx context.Context, id int64) (*auth.UserKey, error) {
	return s.next.Key(ctx, id)
}

// KeysOf implements auth.KeyStore.
func (s *Store) KeysOf(ctx context.Context, userID int64) ([]*auth.UserKey, error) {
	return s.next.KeysOf(ctx, userID)
}

// SetKeyHash implements auth.KeyStore.
func (s *Store) SetKeyHash(ctx context.Context, id int64, hash string) error {
	return s.next.SetKeyHash(ctx, id, hash)
}

// CreateSession implements auth.SessionStore. A new session is cached at its first use.
func (s *Store) CreateSession(ctx context.Context, sess *auth.Session) error {
	return s.next.CreateSession(ctx, sess)
}

// SessionsOf implements auth.SessionStore. Lists are not cached.
func (s *Store) SessionsOf(ctx context.Context, userID int64) ([]*auth.Session, error) {
	return s.next.SessionsOf(ctx, userID)
}

// ListUsers implements auth.LifecycleStore.
func (s *Store) ListUsers(ctx context.Context, after, before int64, limit int, fromEnd bool) ([]*auth.User, error) {
	return s.next.ListUsers(ctx, after, before, limit, fromEnd)
}

// CountUsers implements auth.LifecycleStore.
func (s *Store) CountUsers(ctx context.Context) (int, error) { return s.next.CountUsers(ctx) }

// UpdateKey implements auth.LifecycleStore. Keys are not cached, and sessions do not change
// with their key (they copy its scopes when made; ending them goes through DeleteSession).
func (s *Store) UpdateKey(ctx context.Context, id int64, edit func(*auth.UserKey) error) (*auth.UserKey, error) {
	return s.next.UpdateKey(ctx, id, edit)
}

// Ping implements auth.Store.
func (s *Store) Ping(ctx context.Context) error { return s.next.Ping(ctx) }
