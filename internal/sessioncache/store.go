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
//
// It defines only the methods it changes: the two it caches and those that end a session or
// change a user, which publish (see the package doc). Every other method is the wrapped
// store's own, through the embedded areas. TestEveryStoreMethodIsClassified fails for a
// method of auth.Store that is not sorted into one of those three kinds.
type Store struct {
	next auth.Store
	userStore
	accountStore
	keyStore
	sessionStore
	refreshStore
	totpStore
	batchReader
	emailTokenStore
	passkeyStore
	identityStore
	serviceKeyStore
	pinger

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

// The areas of the wrapped store, embedded in Store under these unexported names. A new area
// of auth.Store adds a line here and one in Store, and a row per method to the test's table.
type (
	userStore       = auth.UserStore
	accountStore    = auth.AccountStore
	keyStore        = auth.KeyStore
	sessionStore    = auth.SessionStore
	refreshStore    = auth.RefreshStore
	totpStore       = auth.TOTPStore
	batchReader     = auth.BatchReader
	emailTokenStore = auth.EmailTokenStore
	passkeyStore    = auth.PasskeyStore
	identityStore   = auth.IdentityStore
	serviceKeyStore = auth.ServiceKeyStore
	pinger          interface {
		Ping(ctx context.Context) error
	}
)

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
		next:      next,
		userStore: next, accountStore: next, keyStore: next, sessionStore: next,
		refreshStore: next, totpStore: next, batchReader: next, emailTokenStore: next, passkeyStore: next, identityStore: next, serviceKeyStore: next, pinger: next,
		bus: bus, c: newCache(opts.Size, opts.TTL), clock: opts.Clock,
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

// UpdateUser implements auth.UserStore, and publishes the change of the user (a role,
// a password, disabled…): Authenticate reads the user on every request.
func (s *Store) UpdateUser(ctx context.Context, id int64, edit func(*auth.User) error) (*auth.User, error) {
	u, err := s.next.UpdateUser(ctx, id, edit)
	if !errors.Is(err, auth.ErrNotFound) {
		s.UserChanged(ctx, id)
	}
	return u, err
}

// RenameUser implements auth.UserStore, and publishes the change of the user: a cached user
// would go on showing the old name.
func (s *Store) RenameUser(ctx context.Context, id int64, username string) (*auth.User, error) {
	u, err := s.next.RenameUser(ctx, id, username)
	if !errors.Is(err, auth.ErrNotFound) && !errors.Is(err, auth.ErrConflict) {
		s.UserChanged(ctx, id)
	}
	return u, err
}

// DeleteUser implements auth.UserStore, and publishes the end of the user and of all
// their sessions.
func (s *Store) DeleteUser(ctx context.Context, id int64) (*auth.User, error) {
	u, err := s.next.DeleteUser(ctx, id)
	if !errors.Is(err, auth.ErrNotFound) {
		s.EndUserSessions(ctx, id)
	}
	return u, err
}

// DeleteSessionsOf implements auth.SessionStore, and publishes the end of all the user's
// sessions (the one kept, if any, is simply read again).
func (s *Store) DeleteSessionsOf(ctx context.Context, userID, exceptID int64) (int, error) {
	n, err := s.next.DeleteSessionsOf(ctx, userID, exceptID)
	if !errors.Is(err, auth.ErrNotFound) {
		s.EndUserSessions(ctx, userID)
	}
	return n, err
}

// TouchSession implements auth.SessionStore. The session's LastUsedAt changes, and the
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
