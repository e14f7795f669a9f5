package redisstore

import (
	"errors"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/redistest"
)

// After DeleteUser the keyspace holds exactly what the other users need: the SCAN finds no
// record, index entry, username claim, session, refresh token family or pointer, or second
// factor of the deleted user.
func TestDeleteUserLeavesNothing(t *testing.T) {
	f := newFixture(t, nil, redistest.Start(t))
	ctx := t.Context()
	alice, bob := f.user(t, "alice"), f.user(t, "bob")
	f.key(t, alice.ID)
	f.key(t, alice.ID)
	f.session(t, alice.ID, newToken(t), time.Hour)
	f.session(t, alice.ID, newToken(t), 2*time.Hour)
	// A refreshable sign-in rotated once, one revoked (which leaves pointers), and TOTP.
	r0 := newRefreshToken()
	fam, _ := f.family(t, alice.ID, r0, 24*time.Hour)
	if res, err := f.Rotate(ctx, f.rotation(fam, r0, 48*time.Hour)); err != nil || res.Outcome != auth.Rotated {
		t.Fatalf("Rotate: %+v, %v", res, err)
	}
	revoked, _ := f.family(t, alice.ID, newRefreshToken(), 24*time.Hour)
	if err := f.RevokeFamily(ctx, alice.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	pending := &auth.PendingTOTP{Secret: []byte("sealed"), ExpiresAt: time.Now().Add(time.Hour)}
	if err := f.SetPendingTOTP(ctx, alice.ID, pending); err != nil {
		t.Fatal(err)
	}
	if err := f.EnableTOTP(ctx, alice.ID, pending.Secret, 1, nil); err != nil {
		t.Fatal(err)
	}
	bobKey := f.key(t, bob.ID)
	bobSession := f.session(t, bob.ID, newToken(t), time.Hour)
	if _, err := f.DeleteUser(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	checkDump(t, f.dump(t), map[string][]string{
		"seq:u": {"2"}, "seq:k": {"3"}, "seq:s": {"6"}, "seq:f": {"2"},
		"u:2": nil, "un:bob": {"1", "2"}, "users": {"2"},
		"k:" + itoa(bobKey.ID): nil, "{u2}:k": {itoa(bobKey.ID)},
		"t:" + string(bobSession.TokenDigest[:]): nil,
		"{u2}:s":                                 {itoa(bobSession.ID), string(bobSession.TokenDigest[:])},
	})
}

// A DeleteUser that failed half-way leaves a tombstone: the user is not found any more, and
// the next DeleteUser of the id finishes the purge (answering ErrNotFound: it did not win).
func TestDeleteUserFinishesAHalfDoneDelete(t *testing.T) {
	f := newFixture(t, nil, redistest.Start(t))
	ctx, rdb := t.Context(), f.srv.Client
	alice := f.user(t, "alice")
	k := f.key(t, alice.ID)
	f.session(t, alice.ID, newToken(t), time.Hour)
	before := f.dump(t)

	// What the first step of DeleteUser leaves if the process dies right after it.
	rec := rdb.Get(ctx, f.name.user(alice.ID)).Val()
	if err := rdb.Set(ctx, f.name.user(alice.ID), "!"+rec, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.User(ctx, alice.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("User of a half-deleted user: %v, want ErrNotFound", err)
	}
	if _, err := f.UserByUsername(ctx, 1, "alice"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("UserByUsername of a half-deleted user: %v, want ErrNotFound", err)
	}
	if users, err := f.ListUsers(ctx, 0, 0, 10, false); err != nil || len(users) != 0 {
		t.Errorf("ListUsers lists a half-deleted user: %v, %v", users, err)
	}
	if users, err := f.UsersByID(ctx, []int64{alice.ID}); err != nil || len(users) != 0 {
		t.Errorf("UsersByID answers a half-deleted user: %v, %v", users, err)
	}
	if err := f.CreateKey(ctx, &auth.UserKey{UserID: alice.ID, SecretHash: "h", CreatedAt: time.Now()}); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("CreateKey for a half-deleted user: %v, want ErrNotFound", err)
	}
	if _, err := f.Key(ctx, k.ID); err != nil {
		t.Fatalf("the key went before the purge: %v", err)
	}
	if _, err := f.DeleteUser(ctx, alice.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("DeleteUser of a half-deleted user: %v, want ErrNotFound", err)
	}
	want := map[string][]string{"seq:u": {"1"}, "seq:k": {"2"}, "seq:s": {"1"}}
	checkDump(t, f.dump(t), want)
	if len(before) <= len(want) {
		t.Fatalf("the fixture made nothing to purge: %d keys", len(before))
	}
}

// TouchSession changes LastUsedAt only: the TTL that Redis keeps stays the session's.
func TestTouchSessionKeepsTTL(t *testing.T) {
	f := newFixture(t, nil, redistest.Start(t))
	ctx := t.Context()
	u := f.user(t, "alice")
	s := f.session(t, u.ID, newToken(t), time.Hour)
	if err := f.TouchSession(ctx, s, time.Now()); err != nil {
		t.Fatal(err)
	}
	ttl := f.srv.Client.PTTL(ctx, f.name.token(s.TokenDigest)).Val()
	if ttl > time.Hour || ttl < time.Hour-10*time.Second {
		t.Errorf("TTL after TouchSession = %v, want about 1h", ttl)
	}
	got, err := f.SessionByDigest(ctx, s.TokenDigest)
	if err != nil || got.LastUsedAt == nil {
		t.Fatalf("after TouchSession: %+v, %v", got, err)
	}
}
