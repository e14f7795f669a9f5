package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// faultStore wraps a store for the model test (model.go). Armed, it fails one chosen call of
// the methods below with auth.ErrUnavailable: before the call reaches the store, or after it
// took effect (an "uncertain" failure, as a timeout after Redis ran the command is). With
// jitter on, each of those calls first sleeps a few microseconds, to widen the windows in
// which concurrent requests interleave.
//
// The methods wrapped are those that sign-ins, refreshes, revocations and Authenticate call;
// the others pass through.
type faultStore struct {
	auth.Store

	mu     sync.Mutex
	armed  bool
	at     int  // the armed fault hits the at-th wrapped call from arming (0: the next one)
	after  bool // the call runs before the fault is answered
	calls  int  // wrapped calls since arming
	fired  bool // the armed fault hit a call
	jitter bool
}

// Arm makes the at-th wrapped call from now fail, after it ran if after.
func (f *faultStore) Arm(at int, after bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed, f.at, f.after, f.calls, f.fired = true, at, after, 0, false
}

// Disarm stops failing calls and reports whether the fault hit one.
func (f *faultStore) Disarm() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = false
	return f.fired
}

func (f *faultStore) setJitter(on bool) {
	f.mu.Lock()
	f.jitter = on
	f.mu.Unlock()
}

// do runs call unless the armed fault hits it first; an "after" fault runs it and then
// answers the failure anyway.
func (f *faultStore) do(name string, call func() error) error {
	f.mu.Lock()
	hit := f.armed && !f.fired && f.calls == f.at
	if f.armed {
		f.calls++
	}
	if hit {
		f.fired = true
	}
	after, jitter := f.after, f.jitter
	f.mu.Unlock()
	if jitter {
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
	}
	switch {
	case !hit:
		return call()
	case after:
		_ = call()
		return fmt.Errorf("%s: injected failure after the call: %w", name, auth.ErrUnavailable)
	}
	return fmt.Errorf("%s: injected failure: %w", name, auth.ErrUnavailable)
}

func (f *faultStore) User(ctx context.Context, id int64) (u *auth.User, err error) {
	err = f.do("User", func() error { u, err = f.Store.User(ctx, id); return err })
	return u, err
}

func (f *faultStore) UserByUsername(ctx context.Context, accountID int64, username string) (u *auth.User, err error) {
	err = f.do("UserByUsername", func() error { u, err = f.Store.UserByUsername(ctx, accountID, username); return err })
	return u, err
}

func (f *faultStore) UpdateUser(ctx context.Context, id int64, edit func(*auth.User) error) (u *auth.User, err error) {
	err = f.do("UpdateUser", func() error { u, err = f.Store.UpdateUser(ctx, id, edit); return err })
	return u, err
}

func (f *faultStore) DeleteUser(ctx context.Context, id int64) (u *auth.User, err error) {
	err = f.do("DeleteUser", func() error { u, err = f.Store.DeleteUser(ctx, id); return err })
	return u, err
}

func (f *faultStore) Key(ctx context.Context, id int64) (k *auth.UserKey, err error) {
	err = f.do("Key", func() error { k, err = f.Store.Key(ctx, id); return err })
	return k, err
}

func (f *faultStore) UpdateKey(ctx context.Context, id int64, edit func(*auth.UserKey) error) (k *auth.UserKey, err error) {
	err = f.do("UpdateKey", func() error { k, err = f.Store.UpdateKey(ctx, id, edit); return err })
	return k, err
}

func (f *faultStore) DeleteKey(ctx context.Context, userID, id int64) (k *auth.UserKey, err error) {
	err = f.do("DeleteKey", func() error { k, err = f.Store.DeleteKey(ctx, userID, id); return err })
	return k, err
}

func (f *faultStore) CreateSession(ctx context.Context, s *auth.Session) error {
	return f.do("CreateSession", func() error { return f.Store.CreateSession(ctx, s) })
}

func (f *faultStore) SessionByDigest(ctx context.Context, d token.Digest) (s *auth.Session, err error) {
	err = f.do("SessionByDigest", func() error { s, err = f.Store.SessionByDigest(ctx, d); return err })
	return s, err
}

func (f *faultStore) SessionsOf(ctx context.Context, userID int64) (s []*auth.Session, err error) {
	err = f.do("SessionsOf", func() error { s, err = f.Store.SessionsOf(ctx, userID); return err })
	return s, err
}

func (f *faultStore) DeleteSession(ctx context.Context, userID, id int64) (s *auth.Session, err error) {
	err = f.do("DeleteSession", func() error { s, err = f.Store.DeleteSession(ctx, userID, id); return err })
	return s, err
}

func (f *faultStore) TouchSession(ctx context.Context, sess *auth.Session, at time.Time) error {
	return f.do("TouchSession", func() error { return f.Store.TouchSession(ctx, sess, at) })
}

func (f *faultStore) DeleteSessionsOf(ctx context.Context, userID, exceptID int64) (n int, err error) {
	err = f.do("DeleteSessionsOf", func() error { n, err = f.Store.DeleteSessionsOf(ctx, userID, exceptID); return err })
	return n, err
}

func (f *faultStore) CreateFamily(ctx context.Context, fam *auth.Family, first *auth.Session) error {
	return f.do("CreateFamily", func() error { return f.Store.CreateFamily(ctx, fam, first) })
}

func (f *faultStore) FamilyByRefreshDigest(ctx context.Context, d token.Digest) (fam *auth.Family, err error) {
	err = f.do("FamilyByRefreshDigest", func() error { fam, err = f.Store.FamilyByRefreshDigest(ctx, d); return err })
	return fam, err
}

func (f *faultStore) Rotate(ctx context.Context, r *auth.Rotation) (res *auth.RotationResult, err error) {
	err = f.do("Rotate", func() error { res, err = f.Store.Rotate(ctx, r); return err })
	return res, err
}

func (f *faultStore) RevokeFamily(ctx context.Context, userID, id int64) error {
	return f.do("RevokeFamily", func() error { return f.Store.RevokeFamily(ctx, userID, id) })
}

func (f *faultStore) TOTP(ctx context.Context, userID int64) (t *auth.TOTP, err error) {
	err = f.do("TOTP", func() error { t, err = f.Store.TOTP(ctx, userID); return err })
	return t, err
}
