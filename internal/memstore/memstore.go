// Package memstore is the embedded, in-process auth.Store that `make run` uses when no Redis
// is configured. Its data lives only as long as the process. It passes the same conformance
// suite (internal/storetest) as the Redis store.
package memstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/token"
)

// Store keeps everything in maps behind one mutex. Records are copied in and out, so no
// caller can change a stored record through a pointer it holds.
type Store struct {
	clock clock.Clock

	mu                                          sync.Mutex
	lastUser, lastKey, lastSession, lastAccount int64

	users      map[int64]*auth.User
	byUsername map[string]map[int64]int64 // username → account id → user id

	accounts map[int64]*auth.Account
	bySlug   map[string]int64

	totp      map[int64]*totpState        // user id → second factor, while on
	enrolling map[int64]*auth.PendingTOTP // user id → enrolment under way

	keys   map[int64]*auth.UserKey
	keysOf map[int64]map[int64]struct{} // user id → key ids

	sessions   map[int64]*auth.Session
	byDigest   map[token.Digest]int64
	sessionsOf map[int64]map[int64]struct{} // user id → session ids
	// sweepAt is the number of stored sessions at which expired ones are next swept out, so
	// that sessions nobody looks up again do not pile up forever.
	sweepAt int

	refresh    refreshState  // families.go
	email      emailState    // emailtokens.go
	passkeys   passkeyState  // passkeys.go
	identities identityState // identities.go
	services   serviceState  // servicekeys.go
}

var _ auth.Store = (*Store)(nil)

// New returns an empty store that reads the time from c.
func New(c clock.Clock) *Store {
	return &Store{
		clock:      c,
		users:      map[int64]*auth.User{},
		byUsername: map[string]map[int64]int64{},
		accounts:   map[int64]*auth.Account{},
		bySlug:     map[string]int64{},
		totp:       map[int64]*totpState{},
		enrolling:  map[int64]*auth.PendingTOTP{},
		keys:       map[int64]*auth.UserKey{},
		keysOf:     map[int64]map[int64]struct{}{},
		sessions:   map[int64]*auth.Session{},
		byDigest:   map[token.Digest]int64{},
		sessionsOf: map[int64]map[int64]struct{}{},
		refresh:    newRefreshState(),
		passkeys:   newPasskeyState(),
	}
}

// Ping always succeeds: the store is in the process.
func (s *Store) Ping(context.Context) error { return nil }

func notFound(op string) error { return fmt.Errorf("memstore: %s: %w", op, auth.ErrNotFound) }

// addTo and removeFrom keep the per-user id sets.
func addTo(index map[int64]map[int64]struct{}, owner, id int64) {
	ids := index[owner]
	if ids == nil {
		ids = map[int64]struct{}{}
		index[owner] = ids
	}
	ids[id] = struct{}{}
}

func removeFrom(index map[int64]map[int64]struct{}, owner, id int64) {
	delete(index[owner], id)
	if len(index[owner]) == 0 {
		delete(index, owner)
	}
}

// utc returns t in UTC, as the Redis store answers it, so both stores hand out the same form.
func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
