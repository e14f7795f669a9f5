package sessioncache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/memstore"
	"github.com/authgraph/authgraph/internal/storetest"
	"github.com/authgraph/authgraph/internal/token"
)

// memBus is a Bus in memory that delivers synchronously, so that a test knows every replica
// has heard a message when Publish returns. The test drives liveness with down and up, and
// can make it lose messages silently.
type memBus struct {
	mu        sync.Mutex
	listeners []Listener
	lose      atomic.Bool // drop every message without telling anyone
}

func (b *memBus) Publish(_ context.Context, msg []byte) error {
	if b.lose.Load() {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.listeners {
		l.Message(msg)
	}
	return nil
}

func (b *memBus) Run(ctx context.Context, l Listener) {
	b.mu.Lock()
	b.listeners = append(b.listeners, l)
	b.mu.Unlock()
	l.Up()
	<-ctx.Done()
	l.Down(ctx.Err())
}

func (b *memBus) each(f func(Listener)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.listeners {
		f(l)
	}
}

func (b *memBus) down() { b.each(func(l Listener) { l.Down(errors.New("cut")) }) }
func (b *memBus) up()   { b.each(func(l Listener) { l.Up() }) }

// counting counts the calls that reach the wrapped store's cached methods.
type counting struct {
	auth.Store
	sessions, users atomic.Int64
	// block, if set, is called inside SessionByDigest after the store has answered.
	block func()
}

func (c *counting) SessionByDigest(ctx context.Context, d token.Digest) (*auth.Session, error) {
	c.sessions.Add(1)
	s, err := c.Store.SessionByDigest(ctx, d)
	if c.block != nil {
		c.block()
	}
	return s, err
}

func (c *counting) User(ctx context.Context, id int64) (*auth.User, error) {
	c.users.Add(1)
	return c.Store.User(ctx, id)
}

type fixture struct {
	clock *clock.Fake
	inner *memstore.Store
	bus   *memBus
}

func newFixture() *fixture {
	c := clock.NewFake(time.Now())
	return &fixture{clock: c, inner: memstore.New(c), bus: &memBus{}}
}

// replica is one server's cached store over the fixture's shared store and bus.
func (f *fixture) replica(t *testing.T, opts Options) (*Store, *counting) {
	t.Helper()
	next := &counting{Store: f.inner}
	opts.Clock = f.clock
	s := New(next, f.bus, opts)
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.WaitLive(ctx); err != nil {
		t.Fatal(err)
	}
	return s, next
}

func (f *fixture) user(t *testing.T, name string) *auth.User {
	t.Helper()
	u := &auth.User{Username: name, PasswordHash: "h", Role: auth.RoleMember, CreatedAt: f.clock.Now()}
	if err := f.inner.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func (f *fixture) session(t *testing.T, userID int64, ttl time.Duration) *auth.Session {
	t.Helper()
	tok, err := token.New(token.Session)
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	s := &auth.Session{UserID: userID, TokenDigest: token.Sum(tok), Method: auth.MethodPassword, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := f.inner.CreateSession(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

func wantFound(t *testing.T, s *Store, d token.Digest) *auth.Session {
	t.Helper()
	got, err := s.SessionByDigest(t.Context(), d)
	if err != nil {
		t.Fatalf("SessionByDigest: %v", err)
	}
	return got
}

func wantGone(t *testing.T, s *Store, d token.Digest) {
	t.Helper()
	if _, err := s.SessionByDigest(t.Context(), d); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("SessionByDigest: err = %v, want ErrNotFound", err)
	}
}

// The decorator is a store like any other.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, c clock.Clock) auth.Store {
		s := New(memstore.New(c), &memBus{}, Options{Clock: c, TTL: time.Hour})
		t.Cleanup(func() { _ = s.Close() })
		if err := s.WaitLive(t.Context()); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestHitsDoNotReachTheStore(t *testing.T) {
	f := newFixture()
	s, next := f.replica(t, Options{})
	u := f.user(t, "alice")
	sess := f.session(t, u.ID, time.Hour)
	for range 5 {
		if got := wantFound(t, s, sess.TokenDigest); got.ID != sess.ID || got.UserID != u.ID {
			t.Fatalf("got %+v", got)
		}
		if got, err := s.User(t.Context(), u.ID); err != nil || got.Username != "alice" {
			t.Fatalf("User = %+v, %v", got, err)
		}
	}
	if n, m := next.sessions.Load(), next.users.Load(); n != 1 || m != 1 {
		t.Errorf("store asked %d times for the session and %d for the user, want 1 and 1", n, m)
	}
	st := s.Stats()
	if st.Hits != 8 || st.Misses != 2 || st.Fills != 2 || st.Sessions != 1 || st.Users != 1 {
		t.Errorf("stats = %+v", st)
	}
}

// A caller that changes the record it got changes nobody else's.
func TestAnswersAreCopies(t *testing.T) {
	f := newFixture()
	s, _ := f.replica(t, Options{})
	u := f.user(t, "alice")
	sess := f.session(t, u.ID, time.Hour)
	a := wantFound(t, s, sess.TokenDigest)
	a.Name = "changed"
	if b := wantFound(t, s, sess.TokenDigest); b.Name != "" {
		t.Error("a change to an answered session shows in the next answer")
	}
	v, _ := s.User(t.Context(), u.ID)
	v.Role = auth.RoleAdmin
	if w, _ := s.User(t.Context(), u.ID); w.Role != auth.RoleMember {
		t.Error("a change to an answered user shows in the next answer")
	}
}

func TestSessionEndedOnOneReplicaIsGoneOnAll(t *testing.T) {
	f := newFixture()
	a, _ := f.replica(t, Options{})
	b, _ := f.replica(t, Options{})
	u := f.user(t, "alice")
	sess := f.session(t, u.ID, time.Hour)
	wantFound(t, a, sess.TokenDigest)
	wantFound(t, b, sess.TokenDigest)
	if _, err := a.DeleteSession(t.Context(), u.ID, sess.ID); err != nil {
		t.Fatal(err)
	}
	wantGone(t, a, sess.TokenDigest)
	wantGone(t, b, sess.TokenDigest)
}

func TestPasswordChangeInvalidatesUser(t *testing.T) {
	f := newFixture()
	a, _ := f.replica(t, Options{})
	b, nb := f.replica(t, Options{})
	u := f.user(t, "alice")
	if _, err := b.User(t.Context(), u.ID); err != nil {
		t.Fatal(err)
	}
	if err := a.SetPasswordHash(t.Context(), u.ID, "new"); err != nil {
		t.Fatal(err)
	}
	got, err := b.User(t.Context(), u.ID)
	if err != nil || got.PasswordHash != "new" || nb.users.Load() != 2 {
		t.Errorf("after the change, replica b answers %+v, %v (store asked %d times)", got, err, nb.users.Load())
	}
}

func TestEndUserSessions(t *testing.T) {
	f := newFixture()
	a, _ := f.replica(t, Options{})
	b, _ := f.replica(t, Options{})
	alice, bob := f.user(t, "alice"), f.user(t, "bob")
	s1, s2 := f.session(t, alice.ID, time.Hour), f.session(t, alice.ID, time.Hour)
	s3 := f.session(t, bob.ID, time.Hour)
	for _, s := range []*auth.Session{s1, s2, s3} {
		wantFound(t, b, s.TokenDigest)
	}
	// As a "sign out everywhere" would: the store ends them, then the decorator is told.
	for _, s := range []*auth.Session{s1, s2} {
		if _, err := f.inner.DeleteSession(t.Context(), alice.ID, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	a.EndUserSessions(t.Context(), alice.ID)
	wantGone(t, b, s1.TokenDigest)
	wantGone(t, b, s2.TokenDigest)
	if st := b.Stats(); st.Sessions != 1 {
		t.Errorf("replica b still caches %d sessions, want only bob's", st.Sessions)
	}
	wantFound(t, b, s3.TokenDigest)
}

// Entries never outlive the session, and never the TTL.
func TestExpiry(t *testing.T) {
	f := newFixture()
	s, next := f.replica(t, Options{TTL: 10 * time.Second})
	u := f.user(t, "alice")
	short := f.session(t, u.ID, 3*time.Second)
	long := f.session(t, u.ID, time.Hour)
	wantFound(t, s, short.TokenDigest)
	wantFound(t, s, long.TokenDigest)
	f.clock.Advance(3 * time.Second)
	wantGone(t, s, short.TokenDigest)
	wantFound(t, s, long.TokenDigest)
	before := next.sessions.Load()
	f.clock.Advance(7 * time.Second)
	wantFound(t, s, long.TokenDigest)
	if next.sessions.Load() != before+1 {
		t.Error("an entry older than the TTL was answered from the cache")
	}
}

// With the invalidation channel down, the cache is emptied and bypassed; when it is back,
// the cache starts empty again.
func TestChannelDownBypassesCache(t *testing.T) {
	f := newFixture()
	a, _ := f.replica(t, Options{})
	b, nb := f.replica(t, Options{})
	u := f.user(t, "alice")
	sess := f.session(t, u.ID, time.Hour)
	wantFound(t, b, sess.TokenDigest)

	f.bus.down()
	if b.Live() {
		t.Fatal("still live after the channel went down")
	}
	n := nb.sessions.Load()
	wantFound(t, b, sess.TokenDigest)
	wantFound(t, b, sess.TokenDigest)
	if got := nb.sessions.Load() - n; got != 2 {
		t.Errorf("with the channel down, %d of 2 lookups reached the store", got)
	}
	// Ended while b could not hear of it: b asks the store, so it sees the end at once.
	if _, err := a.DeleteSession(t.Context(), u.ID, sess.ID); err != nil {
		t.Fatal(err)
	}
	wantGone(t, b, sess.TokenDigest)

	f.bus.up()
	other := f.session(t, u.ID, time.Hour)
	wantFound(t, b, other.TokenDigest)
	n = nb.sessions.Load()
	wantFound(t, b, other.TokenDigest)
	if nb.sessions.Load() != n {
		t.Error("the cache is not used again after the channel came back")
	}
}

// A message lost without anyone noticing: the ended session is accepted at most TTL longer.
func TestLostMessageBoundedByTTL(t *testing.T) {
	f := newFixture()
	a, _ := f.replica(t, Options{TTL: 5 * time.Second})
	b, _ := f.replica(t, Options{TTL: 5 * time.Second})
	u := f.user(t, "alice")
	sess := f.session(t, u.ID, time.Hour)
	wantFound(t, b, sess.TokenDigest)
	f.bus.lose.Store(true)
	if _, err := a.DeleteSession(t.Context(), u.ID, sess.ID); err != nil {
		t.Fatal(err)
	}
	wantGone(t, a, sess.TokenDigest)
	wantFound(t, b, sess.TokenDigest) // stale, as the TTL allows
	f.clock.Advance(5 * time.Second)
	wantGone(t, b, sess.TokenDigest)
}

// A lookup that read the session before another replica ended it, and that would store it
// after hearing of the end, must not store it.
func TestFillRacingInvalidationIsNotStored(t *testing.T) {
	f := newFixture()
	a, _ := f.replica(t, Options{})
	next := &counting{Store: f.inner}
	b := New(next, f.bus, Options{Clock: f.clock})
	t.Cleanup(func() { _ = b.Close() })
	if err := b.WaitLive(t.Context()); err != nil {
		t.Fatal(err)
	}
	u := f.user(t, "alice")
	sess := f.session(t, u.ID, time.Hour)
	next.block = func() {
		next.block = nil
		if _, err := a.DeleteSession(context.Background(), u.ID, sess.ID); err != nil {
			t.Error(err)
		}
	}
	wantFound(t, b, sess.TokenDigest) // read before the delete: answered, not kept
	wantGone(t, b, sess.TokenDigest)
	if st := b.Stats(); st.StaleFills != 1 {
		t.Errorf("stats = %+v, want one stale fill", st)
	}
}

// Made-up tokens are never cached, so they cannot push out real sessions.
func TestUnknownTokensEvictNothing(t *testing.T) {
	f := newFixture()
	s, next := f.replica(t, Options{Size: shardCount})
	u := f.user(t, "alice")
	sess := f.session(t, u.ID, time.Hour)
	wantFound(t, s, sess.TokenDigest)
	for i := range 10_000 {
		d := token.Digest{byte(i), byte(i >> 8), 1}
		wantGone(t, s, d)
	}
	n := next.sessions.Load()
	wantFound(t, s, sess.TokenDigest)
	if next.sessions.Load() != n {
		t.Error("a real session was evicted by unknown tokens")
	}
}

func TestSizeIsBounded(t *testing.T) {
	f := newFixture()
	s, _ := f.replica(t, Options{Size: 64})
	u := f.user(t, "alice")
	for range 1000 {
		wantFound(t, s, f.session(t, u.ID, time.Hour).TokenDigest)
	}
	if n := s.Stats().Sessions; n > 64 {
		t.Errorf("%d sessions cached, want at most 64", n)
	}
}

func TestUnreadableMessageFlushes(t *testing.T) {
	f := newFixture()
	s, next := f.replica(t, Options{})
	u := f.user(t, "alice")
	sess := f.session(t, u.ID, time.Hour)
	wantFound(t, s, sess.TokenDigest)
	for _, msg := range [][]byte{nil, {'?'}, {msgSession, 1, 2}, {msgUser}, {msgUser, 0x80}} {
		if err := f.bus.Publish(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
		n := next.sessions.Load()
		wantFound(t, s, sess.TokenDigest)
		if next.sessions.Load() != n+1 {
			t.Errorf("message %q did not flush the cache", msg)
		}
	}
}

// A DeleteSession that fails without saying whether it ended the session invalidates all
// the user's sessions.
func TestUncertainDeleteInvalidatesUser(t *testing.T) {
	f := newFixture()
	failing := &failDelete{Store: f.inner}
	a := New(failing, f.bus, Options{Clock: f.clock})
	t.Cleanup(func() { _ = a.Close() })
	b, _ := f.replica(t, Options{})
	u := f.user(t, "alice")
	sess := f.session(t, u.ID, time.Hour)
	wantFound(t, b, sess.TokenDigest)
	if _, err := f.inner.DeleteSession(t.Context(), u.ID, sess.ID); err != nil { // it did end
		t.Fatal(err)
	}
	if _, err := a.DeleteSession(t.Context(), u.ID, sess.ID); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatal(err)
	}
	wantGone(t, b, sess.TokenDigest)
}

type failDelete struct{ auth.Store }

func (failDelete) DeleteSession(context.Context, int64, int64) (*auth.Session, error) {
	return nil, auth.ErrUnavailable
}

func TestPublishFailureIsCounted(t *testing.T) {
	f := newFixture()
	var events []Event
	var mu sync.Mutex
	s := New(f.inner, failBus{f.bus}, Options{Clock: f.clock, OnEvent: func(e Event, err error) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	}})
	t.Cleanup(func() { _ = s.Close() })
	if err := s.WaitLive(t.Context()); err != nil {
		t.Fatal(err)
	}
	u := f.user(t, "alice")
	sess := f.session(t, u.ID, time.Hour)
	if _, err := s.DeleteSession(t.Context(), u.ID, sess.ID); err != nil {
		t.Fatal(err) // the session did end: a lost message is not the caller's failure
	}
	if st := s.Stats(); st.PublishFailures != 1 {
		t.Errorf("stats = %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 || events[0] != EventUp || events[1] != EventPublishFailed {
		t.Errorf("events = %v", events)
	}
}

type failBus struct{ *memBus }

func (failBus) Publish(context.Context, []byte) error { return errors.New("down") }

// Revoking a refresh token family ends its access sessions on every replica, and no other.
func TestRevokeFamilyInvalidates(t *testing.T) {
	f := newFixture()
	a, _ := f.replica(t, Options{})
	b, _ := f.replica(t, Options{})
	u := f.user(t, "alice")
	now := f.clock.Now()
	tok, _ := token.New(token.Session)
	refresh, _ := token.New(token.Refresh)
	first := &auth.Session{UserID: u.ID, TokenDigest: token.Sum(tok), Method: auth.MethodPassword, CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute)}
	fam := &auth.Family{UserID: u.ID, Method: auth.MethodPassword, CreatedAt: now, RefreshDigest: token.Sum(refresh), RefreshExpiresAt: now.Add(time.Hour)}
	if err := a.CreateFamily(t.Context(), fam, first); err != nil {
		t.Fatal(err)
	}
	other := f.session(t, u.ID, time.Hour)
	wantFound(t, b, first.TokenDigest)
	wantFound(t, b, other.TokenDigest)
	if err := a.RevokeFamily(t.Context(), u.ID, fam.ID); err != nil {
		t.Fatal(err)
	}
	wantGone(t, b, first.TokenDigest)
	if st := b.Stats(); st.Sessions != 1 {
		t.Errorf("replica b caches %d sessions, want only the one outside the family", st.Sessions)
	}
}

// The lifecycle methods publish what Authenticate must see at once, on every replica.
func TestLifecycleInvalidates(t *testing.T) {
	ctx := t.Context()
	t.Run("UpdateUser", func(t *testing.T) {
		f := newFixture()
		a, _ := f.replica(t, Options{})
		b, nb := f.replica(t, Options{})
		u := f.user(t, "alice")
		if _, err := b.User(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := a.UpdateUser(ctx, u.ID, func(u *auth.User) error { u.Disabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
		got, err := b.User(ctx, u.ID)
		if err != nil || !got.Disabled || nb.users.Load() != 2 {
			t.Errorf("after disabling, replica b answers %+v, %v", got, err)
		}
	})
	t.Run("DeleteUser", func(t *testing.T) {
		f := newFixture()
		a, _ := f.replica(t, Options{})
		b, _ := f.replica(t, Options{})
		u := f.user(t, "alice")
		sess := f.session(t, u.ID, time.Hour)
		wantFound(t, b, sess.TokenDigest)
		if _, err := b.User(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := a.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		wantGone(t, b, sess.TokenDigest)
		if _, err := b.User(ctx, u.ID); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("User after DeleteUser: %v", err)
		}
	})
	t.Run("DeleteSessionsOf", func(t *testing.T) {
		f := newFixture()
		a, _ := f.replica(t, Options{})
		b, _ := f.replica(t, Options{})
		u := f.user(t, "alice")
		keep, end := f.session(t, u.ID, time.Hour), f.session(t, u.ID, time.Hour)
		wantFound(t, b, keep.TokenDigest)
		wantFound(t, b, end.TokenDigest)
		if n, err := a.DeleteSessionsOf(ctx, u.ID, keep.ID); err != nil || n != 1 {
			t.Fatal(n, err)
		}
		wantGone(t, b, end.TokenDigest)
		wantFound(t, b, keep.TokenDigest)
	})
	t.Run("TouchSession", func(t *testing.T) {
		f := newFixture()
		a, _ := f.replica(t, Options{})
		b, _ := f.replica(t, Options{})
		u := f.user(t, "alice")
		sess := f.session(t, u.ID, time.Hour)
		wantFound(t, b, sess.TokenDigest)
		at := f.clock.Now().Add(time.Minute)
		if err := a.TouchSession(ctx, wantFound(t, a, sess.TokenDigest), at); err != nil {
			t.Fatal(err)
		}
		if got := wantFound(t, b, sess.TokenDigest); got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) {
			t.Errorf("replica b answers LastUsedAt %v, want %v", got.LastUsedAt, at)
		}
	})
}

// A refresh token presented again after its rotation revokes its family: every replica must
// stop accepting the family's access sessions at once, not after the cache's TTL.
func TestRefreshReuseInvalidates(t *testing.T) {
	ctx := t.Context()
	f := newFixture()
	a, _ := f.replica(t, Options{TTL: time.Hour})
	b, _ := f.replica(t, Options{TTL: time.Hour})
	u := f.user(t, "alice")
	now := f.clock.Now()
	newDigest := func() token.Digest {
		tok, err := token.New(token.Session)
		if err != nil {
			t.Fatal(err)
		}
		return token.Sum(tok)
	}
	first := &auth.Session{UserID: u.ID, TokenDigest: newDigest(), Method: auth.MethodPassword, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	fam := &auth.Family{UserID: u.ID, Method: auth.MethodPassword, CreatedAt: now, RefreshDigest: newDigest(), RefreshExpiresAt: now.Add(24 * time.Hour)}
	if err := a.CreateFamily(ctx, fam, first); err != nil {
		t.Fatal(err)
	}
	rotation := func(presented token.Digest) *auth.Rotation {
		at := f.clock.Now()
		return &auth.Rotation{
			FamilyID: fam.ID, Presented: presented, Now: at, Next: newDigest(), NextExpiresAt: at.Add(24 * time.Hour),
			Access: &auth.Session{UserID: u.ID, TokenDigest: newDigest(), Method: auth.MethodPassword, CreatedAt: at, ExpiresAt: at.Add(time.Hour)},
			Sealed: []byte("sealed successor pair"), Grace: time.Second,
		}
	}
	r1 := rotation(fam.RefreshDigest)
	if res, err := a.Rotate(ctx, r1); err != nil || res.Outcome != auth.Rotated {
		t.Fatalf("first rotation: %+v, %v", res, err)
	}
	// Both access sessions of the family are in replica b's cache.
	wantFound(t, b, first.TokenDigest)
	wantFound(t, b, r1.Access.TokenDigest)

	f.clock.Advance(2 * time.Second) // past the grace window: presenting the rotated token is a reuse
	res, err := a.Rotate(ctx, rotation(fam.RefreshDigest))
	if err != nil || res.Outcome != auth.Reused {
		t.Fatalf("reuse: %+v, %v; want Reused", res, err)
	}
	wantGone(t, b, first.TokenDigest)
	wantGone(t, b, r1.Access.TokenDigest)
	wantGone(t, a, r1.Access.TokenDigest)
}
