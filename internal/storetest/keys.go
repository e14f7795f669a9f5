package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

var keyTests = []test{
	{"KeyRoundTrip", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		used, expires := e.now().Add(time.Minute), e.now().Add(90*24*time.Hour)
		keys := []*auth.UserKey{
			{UserID: u.ID, Name: "", SecretHash: "h1", CreatedAt: e.now()},
			{UserID: u.ID, Name: "ci runner ✓", SecretHash: "h2", CreatedAt: e.now(), LastUsedAt: &used, ExpiresAt: &expires},
		}
		for _, k := range keys {
			if err := e.CreateKey(e.ctx(t), k); err != nil {
				t.Fatal(err)
			}
			got, err := e.Key(e.ctx(t), k.ID)
			if err != nil {
				t.Fatalf("Key(%d): %v", k.ID, err)
			}
			checkKey(t, got, k)
		}
	}},
	{"KeysOfInIDOrder", func(t *testing.T, e *env) {
		a, b := e.newUser(t, "a"), e.newUser(t, "b")
		var want []*auth.UserKey
		for i := range 5 {
			want = append(want, e.newKey(t, a.ID, "a"))
			if i%2 == 0 {
				e.newKey(t, b.ID, "b")
			}
		}
		got, err := e.KeysOf(e.ctx(t), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(keyIDs(got), keyIDs(want)) {
			t.Fatalf("KeysOf = %v, want %v", keyIDs(got), keyIDs(want))
		}
		for i := range got {
			checkKey(t, got[i], want[i])
		}
		none, err := e.KeysOf(e.ctx(t), 424242)
		if err != nil || len(none) != 0 {
			t.Errorf("KeysOf(user without keys) = %v, %v; want none", keyIDs(none), err)
		}
	}},
	{"SetKeyHash", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		k, other := e.newKey(t, u.ID, "k"), e.newKey(t, u.ID, "other")
		if err := e.SetKeyHash(e.ctx(t), k.ID, "new-hash"); err != nil {
			t.Fatal(err)
		}
		k.SecretHash = "new-hash"
		checkKey(t, mustKey(t, e, k.ID), k)
		checkKey(t, mustKey(t, e, other.ID), other)
		wantErr(t, "SetKeyHash(unknown)", e.SetKeyHash(e.ctx(t), 424242, "h"), auth.ErrNotFound)
	}},
	{"UnknownKey", func(t *testing.T, e *env) {
		_, err := e.Key(e.ctx(t), 424242)
		wantErr(t, "Key(unknown)", err, auth.ErrNotFound)
		_, err = e.DeleteKey(e.ctx(t), 1, 424242)
		wantErr(t, "DeleteKey(unknown)", err, auth.ErrNotFound)
	}},
	{"DeleteKey", func(t *testing.T, e *env) {
		owner, other := e.newUser(t, "owner"), e.newUser(t, "other")
		k, kept := e.newKey(t, owner.ID, "doomed"), e.newKey(t, owner.ID, "kept")

		_, err := e.DeleteKey(e.ctx(t), other.ID, k.ID)
		wantErr(t, "DeleteKey by another user", err, auth.ErrNotFound)
		checkKey(t, mustKey(t, e, k.ID), k)

		got, err := e.DeleteKey(e.ctx(t), owner.ID, k.ID)
		if err != nil {
			t.Fatalf("DeleteKey: %v", err)
		}
		checkKey(t, got, k)
		_, err = e.Key(e.ctx(t), k.ID)
		wantErr(t, "Key after DeleteKey", err, auth.ErrNotFound)
		wantErr(t, "SetKeyHash after DeleteKey", e.SetKeyHash(e.ctx(t), k.ID, "h"), auth.ErrNotFound)
		_, err = e.DeleteKey(e.ctx(t), owner.ID, k.ID)
		wantErr(t, "second DeleteKey", err, auth.ErrNotFound)
		list, err := e.KeysOf(e.ctx(t), owner.ID)
		if err != nil || !slices.Equal(keyIDs(list), []int64{kept.ID}) {
			t.Errorf("KeysOf after DeleteKey = %v, %v; want [%d]", keyIDs(list), err, kept.ID)
		}
	}},
	{"ExpiredKeyIsKept", func(t *testing.T, e *env) {
		// A key past its expiry stays (listed, deletable) until its owner deletes it: the
		// domain refuses to make sessions with it (UserKey.Expired), the store does not hide it.
		u := e.newUser(t, "alice")
		expires := e.now().Add(time.Hour)
		k := &auth.UserKey{UserID: u.ID, Name: "k", SecretHash: "h", CreatedAt: e.now(), ExpiresAt: &expires}
		if err := e.CreateKey(e.ctx(t), k); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(2 * time.Hour)
		checkKey(t, mustKey(t, e, k.ID), k)
		list, err := e.KeysOf(e.ctx(t), u.ID)
		if err != nil || len(list) != 1 {
			t.Errorf("KeysOf = %v, %v; want the expired key", keyIDs(list), err)
		}
	}},
}

func mustKey(t *testing.T, e *env, id int64) *auth.UserKey {
	t.Helper()
	k, err := e.Key(e.ctx(t), id)
	if err != nil {
		t.Fatalf("Key(%d): %v", id, err)
	}
	return k
}
