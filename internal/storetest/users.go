package storetest

import (
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

var userTests = []test{
	{"IDsFromCounters", func(t *testing.T, e *env) {
		var users, keys, sessions []int64
		for i := range 3 {
			u := e.newUser(t, "counter"+string(rune('a'+i)))
			users = append(users, u.ID)
			keys = append(keys, e.newKey(t, u.ID, "k").ID)
			sessions = append(sessions, e.newSession(t, u.ID, time.Hour).ID)
		}
		ascending(t, "user", users)
		ascending(t, "key", keys)
		ascending(t, "session", sessions)
	}},
	{"UserRoundTrip", func(t *testing.T, e *env) {
		want := e.newUser(t, "alice")
		admin := &auth.User{AccountID: testAccount, Username: "root", PasswordHash: "h", Role: auth.RoleAdmin, CreatedAt: e.now()}
		if err := e.CreateUser(e.ctx(t), admin); err != nil {
			t.Fatal(err)
		}
		for _, u := range []*auth.User{want, admin} {
			got, err := e.User(e.ctx(t), u.ID)
			if err != nil {
				t.Fatalf("User(%d): %v", u.ID, err)
			}
			checkUser(t, got, u)
			got, err = e.UserByUsername(e.ctx(t), testAccount, u.Username)
			if err != nil {
				t.Fatalf("UserByUsername(%q): %v", u.Username, err)
			}
			checkUser(t, got, u)
		}
	}},
	{"UsernameTaken", func(t *testing.T, e *env) {
		first := e.newUser(t, "bob")
		dup := &auth.User{AccountID: testAccount, Username: "bob", PasswordHash: "other", Role: auth.RoleAdmin, CreatedAt: e.now()}
		wantErr(t, "CreateUser of a taken username", e.CreateUser(e.ctx(t), dup), auth.ErrConflict)
		got, err := e.UserByUsername(e.ctx(t), testAccount, "bob")
		if err != nil {
			t.Fatal(err)
		}
		checkUser(t, got, first)
	}},
	{"UnknownUser", func(t *testing.T, e *env) {
		e.newUser(t, "carol")
		_, err := e.User(e.ctx(t), 424242)
		wantErr(t, "User(unknown)", err, auth.ErrNotFound)
		_, err = e.User(e.ctx(t), 0)
		wantErr(t, "User(0)", err, auth.ErrNotFound)
		_, err = e.UserByUsername(e.ctx(t), testAccount, "nobody")
		wantErr(t, "UserByUsername(unknown)", err, auth.ErrNotFound)
		_, err = e.UserByUsername(e.ctx(t), testAccount, "Carol") // usernames are compared exactly
		wantErr(t, "UserByUsername(other case)", err, auth.ErrNotFound)
		wantErr(t, "SetPasswordHash(unknown)", e.SetPasswordHash(e.ctx(t), 424242, "h"), auth.ErrNotFound)
	}},
	{"SetPasswordHash", func(t *testing.T, e *env) {
		u := e.newUser(t, "dave")
		other := e.newUser(t, "erin")
		if err := e.SetPasswordHash(e.ctx(t), u.ID, "$argon2id$v=19$m=65536,t=3,p=1$bmV3$bmV3"); err != nil {
			t.Fatal(err)
		}
		u.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=1$bmV3$bmV3"
		for _, want := range []*auth.User{u, other} {
			got, err := e.User(e.ctx(t), want.ID)
			if err != nil {
				t.Fatal(err)
			}
			checkUser(t, got, want)
		}
		got, err := e.UserByUsername(e.ctx(t), testAccount, "dave")
		if err != nil {
			t.Fatal(err)
		}
		checkUser(t, got, u)
	}},
	{"RecordsAreCopies", func(t *testing.T, e *env) {
		// Changing a record the caller passed in or got back must not change the stored one,
		// through pointer fields either.
		u := e.newUser(t, "frank")
		wantUser := *u
		u.PasswordHash = "changed"
		mustUser(t, e, u.ID).PasswordHash = "changed"
		checkUser(t, mustUser(t, e, u.ID), &wantUser)

		used := e.now()
		k := &auth.UserKey{UserID: u.ID, SecretHash: "h", CreatedAt: e.now(), LastUsedAt: &used}
		if err := e.CreateKey(e.ctx(t), k); err != nil {
			t.Fatal(err)
		}
		wantKey := *k
		wantKey.LastUsedAt = ptr(used)
		*k.LastUsedAt = used.Add(time.Hour)
		*mustKey(t, e, k.ID).LastUsedAt = used.Add(time.Hour)
		checkKey(t, mustKey(t, e, k.ID), &wantKey)

		s := &auth.Session{
			UserID: u.ID, TokenDigest: newDigest(t), Method: auth.MethodPassword,
			CreatedAt: e.now(), ExpiresAt: e.now().Add(time.Hour), LastUsedAt: ptr(e.now()),
		}
		if err := e.CreateSession(e.ctx(t), s); err != nil {
			t.Fatal(err)
		}
		wantSession := *s
		wantSession.LastUsedAt = ptr(*s.LastUsedAt)
		*s.LastUsedAt = used.Add(time.Hour)
		got := mustSession(t, e, s)
		got.UserAgent, *got.LastUsedAt = "changed", used.Add(time.Hour)
		checkSession(t, mustSession(t, e, s), &wantSession)
	}},
}

func ptr[T any](v T) *T { return &v }

func mustUser(t *testing.T, e *env, id int64) *auth.User {
	t.Helper()
	u, err := e.User(e.ctx(t), id)
	if err != nil {
		t.Fatalf("User(%d): %v", id, err)
	}
	return u
}
