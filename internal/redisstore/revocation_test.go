package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/token"
)

// failNth is a go-redis hook that fails one command: the nth it sees once armed (a pipeline
// counts as one). With after set, Redis runs the command and only its answer is lost, as
// when a timeout strikes while the reply is on its way; else it never reaches Redis.
type failNth struct {
	left  atomic.Int64 // commands until the failure; the one that brings it to 0 fails
	after bool
	fired atomic.Bool
}

var errInjected = &net.OpError{Op: "read", Net: "tcp", Err: errors.New("i/o timeout (injected)")}

func (h *failNth) arm(n int) { h.fired.Store(false); h.left.Store(int64(n)) }

func (h *failNth) disarm() { h.left.Store(0) }

func (h *failNth) hit() bool {
	if h.left.Add(-1) == 0 {
		h.fired.Store(true)
		return true
	}
	return false
}

func (h *failNth) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *failNth) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !h.hit() {
			return next(ctx, cmd)
		}
		if h.after {
			_ = next(ctx, cmd)
		}
		cmd.SetErr(errInjected)
		return errInjected
	}
}

func (h *failNth) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !h.hit() {
			return next(ctx, cmds)
		}
		if h.after {
			_ = next(ctx, cmds)
		}
		for _, c := range cmds {
			c.SetErr(errInjected)
		}
		return errInjected
	}
}

// keyWorld is a user with a key, and what the key made: plain sessions, refresh token
// families with a live access session, and one family whose access sessions have all
// expired (found only through the user's family index). The user also has a password
// session, which deleting the key must leave alone.
type keyWorld struct {
	st       *Store
	clock    *clock.Fake
	user     *auth.User
	key      *auth.UserKey
	sessions []*auth.Session
	families []*auth.Family
	password *auth.Session
}

func newKeyWorld(t *testing.T, rdb redis.UniversalClient, prefix string, plain, families int) *keyWorld {
	t.Helper()
	ctx := t.Context()
	c := clock.NewFake(time.Now())
	w := &keyWorld{st: New(rdb, Options{Prefix: prefix, Clock: c}), clock: c}
	w.user = &auth.User{AccountID: 1, Username: "alice", PasswordHash: "hash", Role: auth.RoleMember, CreatedAt: c.Now()}
	if err := w.st.CreateUser(ctx, w.user); err != nil {
		t.Fatal(err)
	}
	w.key = &auth.UserKey{UserID: w.user.ID, Name: "ci", SecretHash: "hash", CreatedAt: c.Now()}
	if err := w.st.CreateKey(ctx, w.key); err != nil {
		t.Fatal(err)
	}
	session := func(method auth.SessionMethod, keyID int64, ttl time.Duration) *auth.Session {
		return &auth.Session{
			UserID: w.user.ID, TokenDigest: token.Sum(newToken(t)), Method: method, UserKeyID: keyID,
			CreatedAt: c.Now(), ExpiresAt: c.Now().Add(ttl),
		}
	}
	family := func(ttl time.Duration) {
		f := &auth.Family{
			UserID: w.user.ID, Method: auth.MethodUserKey, UserKeyID: w.key.ID, CreatedAt: c.Now(),
			RefreshDigest: token.Sum(newToken(t)), RefreshExpiresAt: c.Now().Add(24 * time.Hour),
		}
		first := session(auth.MethodUserKey, w.key.ID, ttl)
		if err := w.st.CreateFamily(ctx, f, first); err != nil {
			t.Fatal(err)
		}
		w.families = append(w.families, f)
		w.sessions = append(w.sessions, first)
	}
	family(time.Minute) // its access session expires below: the family lives on, dormant
	c.Advance(2 * time.Minute)
	for range families {
		family(time.Hour)
	}
	for range plain {
		s := session(auth.MethodUserKey, w.key.ID, time.Hour)
		if err := w.st.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		w.sessions = append(w.sessions, s)
	}
	w.password = session(auth.MethodPassword, 0, time.Hour)
	if err := w.st.CreateSession(ctx, w.password); err != nil {
		t.Fatal(err)
	}
	return w
}

// checkNothingLeft fails t if anything the key made is still there, or if the password
// session is not.
func (w *keyWorld) checkNothingLeft(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	ctx := t.Context()
	live := 0
	for _, s := range w.sessions {
		if _, err := w.st.SessionByDigest(ctx, s.TokenDigest); !errors.Is(err, auth.ErrNotFound) {
			live++
		}
	}
	refreshable := 0
	for _, f := range w.families {
		if _, err := w.st.FamilyByRefreshDigest(ctx, f.RefreshDigest); !errors.Is(err, auth.ErrNotFound) {
			refreshable++
		}
	}
	if live > 0 || refreshable > 0 {
		t.Errorf("%d of %d sessions and %d of %d families of the deleted key are left", live, len(w.sessions), refreshable, len(w.families))
	}
	list, err := w.st.SessionsOf(ctx, w.user.ID)
	if err != nil || len(list) != 1 || list[0].ID != w.password.ID {
		t.Errorf("SessionsOf = %d sessions, %v; want only the password session", len(list), err)
	}
	if _, err := w.st.Key(ctx, w.key.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("Key after DeleteKey: %v, want ErrNotFound", err)
	}
	if keys, err := w.st.KeysOf(ctx, w.user.ID); err != nil || len(keys) != 0 {
		t.Errorf("KeysOf after DeleteKey = %d keys, %v; want none", len(keys), err)
	}
}

// lingers reports whether the key's record is still stored after a DeleteKey that succeeded
// although its final DEL failed: it must then be revoked and in its user's index, so that a
// later DeleteKey (or DeleteUser) removes it.
func (w *keyWorld) lingers(t *testing.T, rdb redis.UniversalClient) bool {
	t.Helper()
	ctx := t.Context()
	b, err := rdb.Get(ctx, w.st.name.key(w.key.ID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, revoked, err := decodeKeyRecord(w.key.ID, b); err != nil || !revoked {
		t.Errorf("the key's record is stored and not revoked (%v)", err)
	}
	if ok, err := rdb.SIsMember(ctx, w.st.name.keysOf(w.user.ID), w.key.ID).Result(); err != nil || !ok {
		t.Errorf("the key's revoked record is left out of its user's index (%v, %v)", ok, err)
	}
	return true
}

// checkRevoked fails t unless the key, after a DeleteKey that failed, is either untouched
// (the failure struck before the revocation) or revoked: invisible, and refusing sessions.
func (w *keyWorld) checkRevoked(t *testing.T, mayBeUntouched bool) {
	t.Helper()
	ctx := t.Context()
	_, err := w.st.Key(ctx, w.key.ID)
	if err == nil && mayBeUntouched {
		return
	}
	if !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("Key after a DeleteKey that failed part-way: %v, want ErrNotFound", err)
	}
	if keys, err := w.st.KeysOf(ctx, w.user.ID); err != nil || len(keys) != 0 {
		t.Errorf("KeysOf lists %d keys (%v) while the key is being deleted", len(keys), err)
	}
	s := &auth.Session{
		UserID: w.user.ID, TokenDigest: token.Sum(newToken(t)), Method: auth.MethodUserKey, UserKeyID: w.key.ID,
		CreatedAt: w.clock.Now(), ExpiresAt: w.clock.Now().Add(time.Hour),
	}
	if err := w.st.CreateSession(ctx, s); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("CreateSession with a revoked key: %v, want ErrNotFound", err)
	}
	if _, err := w.st.UpdateKey(ctx, w.key.ID, func(*auth.UserKey) error { return nil }); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("UpdateKey of a revoked key: %v, want ErrNotFound (it must not come back)", err)
	}
}

// A DeleteKey that fails at any one of its Redis commands, whether the command ran or not,
// leaves the key unable to sign in, and the retry finishes the work and answers the key.
func TestDeleteKeyFailingPartWayIsFinishedByTheRetry(t *testing.T) {
	srv := redistest.Start(t)
	for _, after := range []bool{false, true} {
		hook := &failNth{after: after}
		rdb := srv.NewClient(func(o *redis.Options) { o.MaxRetries = -1 })
		rdb.AddHook(hook)
		for n := 1; ; n++ {
			name := fmt.Sprintf("command %d fails", n)
			if after {
				name += " after running"
			}
			w := newKeyWorld(t, rdb, fmt.Sprintf("%s%v:%d:", srv.Prefix, after, n), 3, 2)
			hook.arm(n)
			got, err := w.st.DeleteKey(t.Context(), w.user.ID, w.key.ID)
			hook.disarm()
			if !hook.fired.Load() {
				if err != nil {
					t.Fatalf("DeleteKey without a failure: %v", err)
				}
				w.checkNothingLeft(t, rdb)
				if w.lingers(t, rdb) {
					t.Error("the record lingers after a DeleteKey that met no failure")
				}
				if n < 5 {
					t.Fatalf("DeleteKey ran only %d commands", n-1)
				}
				break
			}
			t.Run(name, func(t *testing.T) {
				if err != nil {
					if !errors.Is(err, auth.ErrUnavailable) {
						t.Fatalf("DeleteKey with a failed command: %v, want ErrUnavailable", err)
					}
					w.checkRevoked(t, n == 1 && !after)
					got, err = w.st.DeleteKey(t.Context(), w.user.ID, w.key.ID)
					if err != nil {
						t.Fatalf("the retry of DeleteKey: %v, want the key", err)
					}
				}
				if got.ID != w.key.ID || got.Name != w.key.Name {
					t.Errorf("DeleteKey answered %+v, want the key", got)
				}
				w.checkNothingLeft(t, rdb)
				if w.lingers(t, rdb) {
					if _, err := w.st.DeleteKey(t.Context(), w.user.ID, w.key.ID); err != nil {
						t.Errorf("DeleteKey of a lingering record: %v", err)
					}
					if w.lingers(t, rdb) {
						t.Error("the record lingers after a DeleteKey that met no failure")
					}
				}
				if _, err := w.st.DeleteKey(t.Context(), w.user.ID, w.key.ID); !errors.Is(err, auth.ErrNotFound) {
					t.Errorf("DeleteKey once finished: %v, want ErrNotFound", err)
				}
			})
		}
	}
}

// Deleting a key with 600 sessions, each attempt cut short by a timeout one command later
// than the last, while sign-ins with the key keep saving sessions and families (on another
// client, which nothing fails): the caller retries until an answer other than
// ErrUnavailable, which is the key, and then none of the 600 is left, nor any session or
// family that a racing sign-in saved.
func TestDeleteKeyRetriedUntilDone(t *testing.T) {
	srv := redistest.Start(t)
	hook := &failNth{after: true}
	rdb := srv.NewClient(func(o *redis.Options) { o.MaxRetries = -1 })
	rdb.AddHook(hook)
	w := newKeyWorld(t, rdb, srv.Prefix, 500, 99)
	if len(w.sessions) != 600 {
		t.Fatalf("%d sessions, want 600", len(w.sessions))
	}
	// The racing sign-ins save under the key too; they go on until DeleteKey answers.
	racer := New(srv.Client, Options{Prefix: srv.Prefix, Clock: w.clock})
	var (
		done      atomic.Bool
		wg        sync.WaitGroup
		mu        sync.Mutex
		saved     int
		refused   int
		ready     = make(chan struct{})
		readyOnce sync.Once
	)
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				late := done.Load()
				s := &auth.Session{
					UserID: w.user.ID, TokenDigest: token.Sum(newToken(t)), Method: auth.MethodUserKey, UserKeyID: w.key.ID,
					CreatedAt: w.clock.Now(), ExpiresAt: w.clock.Now().Add(time.Hour),
				}
				var f *auth.Family
				var err error
				if (g+i)%3 == 0 {
					f = &auth.Family{
						UserID: w.user.ID, Method: auth.MethodUserKey, UserKeyID: w.key.ID, CreatedAt: w.clock.Now(),
						RefreshDigest: token.Sum(newToken(t)), RefreshExpiresAt: w.clock.Now().Add(24 * time.Hour),
					}
					err = racer.CreateFamily(t.Context(), f, s)
				} else {
					err = racer.CreateSession(t.Context(), s)
				}
				mu.Lock()
				switch {
				case err == nil && late:
					t.Error("a session of the key was saved after DeleteKey answered")
				case err == nil:
					if saved++; saved == 20 {
						readyOnce.Do(func() { close(ready) }) // the deletion starts with saves in flight
					}
					w.sessions = append(w.sessions, s)
					if f != nil {
						w.families = append(w.families, f)
					}
				case errors.Is(err, auth.ErrNotFound):
					refused++
				default:
					t.Errorf("CreateSession: %v", err)
					readyOnce.Do(func() { close(ready) })
					late = true
				}
				mu.Unlock()
				if late {
					return
				}
			}
		})
	}
	var (
		got      *auth.UserKey
		err      error
		attempts int
	)
	<-ready
	for attempts = 1; attempts < 1000; attempts++ {
		hook.arm(attempts)
		got, err = w.st.DeleteKey(t.Context(), w.user.ID, w.key.ID)
		hook.disarm()
		if !errors.Is(err, auth.ErrUnavailable) {
			break
		}
	}
	done.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("DeleteKey after %d attempts: %v, want the key", attempts, err)
	}
	if attempts < 3 || got.ID != w.key.ID {
		t.Fatalf("DeleteKey answered key %d after %d attempts; want key %d after several failures", got.ID, attempts, w.key.ID)
	}
	if saved == 0 || refused == 0 {
		t.Errorf("%d racing sign-ins saved a session and %d were refused; want some of each", saved, refused)
	}
	w.checkNothingLeft(t, rdb)
}
