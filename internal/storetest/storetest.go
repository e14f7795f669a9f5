// Package storetest is the conformance suite of auth.Store: every store (internal/memstore,
// internal/redisstore) runs it from its own tests, so they behave alike down to the error
// sentinels, and a new store is one Run call away from being checked.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/token"
)

// Run checks the store that newStore makes. newStore must return an empty store reading time
// from c, independent of every other store it makes: the subtests run in parallel.
//
// The fake clock starts at the wall clock's time, not at a fixed date, because a store may also
// expire records by its own clock (Redis TTLs): a record must outlive the test in real time,
// and its expiry is tested by moving the fake clock.
func Run(t *testing.T, newStore func(t *testing.T, c clock.Clock) auth.Store) {
	groups := [][]test{userTests, keyTests, sessionTests, raceTests, familyTests, accountTests, totpTests, lifecycleTests, revocationTests, batchTests, emailTokenTests, renameTests, accountAdminTests, accountDeleteTests, passkeyTests, identityTests, serviceKeyTests}
	for _, group := range groups {
		for _, tt := range group {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				c := clock.NewFake(time.Now().UTC())
				tt.run(t, &env{Store: newStore(t, c), clock: c})
			})
		}
	}
}

type test struct {
	name string
	run  func(t *testing.T, e *env)
}

// env is one subtest's store and clock, with helpers that make valid records.
type env struct {
	auth.Store
	clock *clock.Fake
}

// now is the fake clock's time with a nanosecond part, to check that times keep it.
func (e *env) now() time.Time { return e.clock.Now().Truncate(time.Second).Add(123456789) }

func (e *env) ctx(t *testing.T) context.Context { return t.Context() }

func (e *env) newUser(t *testing.T, username string) *auth.User {
	t.Helper()
	return e.newUserIn(t, testAccount, username)
}

// testAccount is the account id of newUser's users. Stores do not check that an account
// exists (the domain does), so the tests need not make it.
const testAccount = 1

func (e *env) newUserIn(t *testing.T, accountID int64, username string) *auth.User {
	t.Helper()
	u := &auth.User{
		AccountID:    accountID,
		Username:     username,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		Role:         auth.RoleMember,
		CreatedAt:    e.now(),
	}
	if err := e.CreateUser(e.ctx(t), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", username, err)
	}
	return u
}

func (e *env) newKey(t *testing.T, userID int64, name string) *auth.UserKey {
	t.Helper()
	k := &auth.UserKey{
		UserID:     userID,
		Name:       name,
		SecretHash: "$argon2id$v=19$m=19456,t=2,p=1$a2V5$c2VjcmV0",
		CreatedAt:  e.now(),
	}
	if err := e.CreateKey(e.ctx(t), k); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return k
}

// newSession saves a password session of userID that lasts ttl on the fake clock.
func (e *env) newSession(t *testing.T, userID int64, ttl time.Duration) *auth.Session {
	t.Helper()
	s := &auth.Session{
		UserID:      userID,
		TokenDigest: newDigest(t),
		Method:      auth.MethodPassword,
		CreatedAt:   e.now(),
		ExpiresAt:   e.now().Add(ttl),
		UserAgent:   "storetest/1.0",
		IP:          "192.0.2.1",
	}
	if err := e.CreateSession(e.ctx(t), s); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return s
}

func newDigest(t *testing.T) token.Digest {
	t.Helper()
	tok, err := token.New(token.Session)
	if err != nil {
		t.Fatal(err)
	}
	return token.Sum(tok)
}

// ascending fails t unless ids are all ≥ 1 and strictly increasing.
func ascending(t *testing.T, what string, ids []int64) {
	t.Helper()
	for i, id := range ids {
		if id < 1 || (i > 0 && id <= ids[i-1]) {
			t.Errorf("%s ids = %v; want ≥ 1 and strictly ascending", what, ids)
			return
		}
	}
}
