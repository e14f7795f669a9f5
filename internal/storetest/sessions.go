package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

var sessionTests = []test{
	{"SessionRoundTrip", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		k := e.newKey(t, u.ID, "k")
		used := e.now().Add(time.Second)
		sessions := []*auth.Session{
			{
				UserID: u.ID, TokenDigest: newDigest(t), Method: auth.MethodPassword,
				CreatedAt: e.now(), ExpiresAt: e.now().Add(720 * time.Hour),
			},
			{
				UserID: u.ID, TokenDigest: newDigest(t), Method: auth.MethodUserKey, UserKeyID: k.ID,
				Name: "deploy bot ✓", CreatedAt: e.now(), ExpiresAt: e.now().Add(time.Hour), LastUsedAt: &used,
				ClientName: "apollo-ios", ClientVersion: "1.2.3-beta+7",
				UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
				IP:        "2001:db8::1",
			},
		}
		for _, s := range sessions {
			if err := e.CreateSession(e.ctx(t), s); err != nil {
				t.Fatal(err)
			}
			got, err := e.SessionByDigest(e.ctx(t), s.TokenDigest)
			if err != nil {
				t.Fatalf("SessionByDigest: %v", err)
			}
			checkSession(t, got, s)
		}
	}},
	{"UnknownDigest", func(t *testing.T, e *env) {
		e.newSession(t, e.newUser(t, "alice").ID, time.Hour)
		_, err := e.SessionByDigest(e.ctx(t), newDigest(t))
		wantErr(t, "SessionByDigest(unknown)", err, auth.ErrNotFound)
	}},
	{"DigestTaken", func(t *testing.T, e *env) {
		// A session must never take over the token of another.
		u := e.newUser(t, "alice")
		first := e.newSession(t, u.ID, time.Hour)
		dup := *first
		dup.ID, dup.Name = 0, "dup"
		wantErr(t, "CreateSession with a taken digest", e.CreateSession(e.ctx(t), &dup), auth.ErrConflict)
		checkSession(t, mustSession(t, e, first), first)
	}},
	{"SessionsOfInIDOrder", func(t *testing.T, e *env) {
		a, b := e.newUser(t, "a"), e.newUser(t, "b")
		var want []*auth.Session
		for i := range 5 {
			want = append(want, e.newSession(t, a.ID, time.Duration(5-i)*time.Hour))
			if i%2 == 0 {
				e.newSession(t, b.ID, time.Hour)
			}
		}
		got, err := e.SessionsOf(e.ctx(t), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sessionIDs(got), sessionIDs(want)) {
			t.Fatalf("SessionsOf = %v, want %v", sessionIDs(got), sessionIDs(want))
		}
		for i := range got {
			checkSession(t, got[i], want[i])
		}
		none, err := e.SessionsOf(e.ctx(t), 424242)
		if err != nil || len(none) != 0 {
			t.Errorf("SessionsOf(user without sessions) = %v, %v; want none", sessionIDs(none), err)
		}
	}},
	{"DeleteSession", func(t *testing.T, e *env) {
		owner, other := e.newUser(t, "owner"), e.newUser(t, "other")
		s, kept := e.newSession(t, owner.ID, time.Hour), e.newSession(t, owner.ID, time.Hour)

		_, err := e.DeleteSession(e.ctx(t), other.ID, s.ID)
		wantErr(t, "DeleteSession by another user", err, auth.ErrNotFound)
		checkSession(t, mustSession(t, e, s), s)

		got, err := e.DeleteSession(e.ctx(t), owner.ID, s.ID)
		if err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
		checkSession(t, got, s)
		_, err = e.SessionByDigest(e.ctx(t), s.TokenDigest)
		wantErr(t, "SessionByDigest after DeleteSession", err, auth.ErrNotFound)
		_, err = e.DeleteSession(e.ctx(t), owner.ID, s.ID)
		wantErr(t, "second DeleteSession", err, auth.ErrNotFound)
		_, err = e.DeleteSession(e.ctx(t), owner.ID, 424242)
		wantErr(t, "DeleteSession(unknown)", err, auth.ErrNotFound)
		list, err := e.SessionsOf(e.ctx(t), owner.ID)
		if err != nil || !slices.Equal(sessionIDs(list), []int64{kept.ID}) {
			t.Errorf("SessionsOf after DeleteSession = %v, %v; want [%d]", sessionIDs(list), err, kept.ID)
		}
	}},
	{"SessionExpiry", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		short, long := e.newSession(t, u.ID, time.Hour), e.newSession(t, u.ID, 2*time.Hour)
		other := e.newSession(t, u.ID, time.Hour) // to try DeleteSession on once expired

		e.clock.Set(short.ExpiresAt.Add(-time.Nanosecond))
		checkSession(t, mustSession(t, e, short), short)

		e.clock.Set(short.ExpiresAt) // a session is over at its ExpiresAt
		// Before anything else looks at other, so that no lookup can have pruned it first.
		_, err := e.DeleteSession(e.ctx(t), u.ID, other.ID)
		wantErr(t, "DeleteSession of an expired session", err, auth.ErrNotFound)
		for _, s := range []*auth.Session{short, other} {
			_, err := e.SessionByDigest(e.ctx(t), s.TokenDigest)
			wantErr(t, "SessionByDigest of an expired session", err, auth.ErrNotFound)
		}
		list, err := e.SessionsOf(e.ctx(t), u.ID)
		if err != nil || !slices.Equal(sessionIDs(list), []int64{long.ID}) {
			t.Errorf("SessionsOf after expiry = %v, %v; want [%d]", sessionIDs(list), err, long.ID)
		}
		checkSession(t, mustSession(t, e, long), long)

		e.clock.Advance(time.Hour)
		_, err = e.SessionByDigest(e.ctx(t), long.TokenDigest)
		wantErr(t, "SessionByDigest of an expired session", err, auth.ErrNotFound)
		list, err = e.SessionsOf(e.ctx(t), u.ID)
		if err != nil || len(list) != 0 {
			t.Errorf("SessionsOf after all expired = %v, %v; want none", sessionIDs(list), err)
		}
	}},
}

func mustSession(t *testing.T, e *env, s *auth.Session) *auth.Session {
	t.Helper()
	got, err := e.SessionByDigest(e.ctx(t), s.TokenDigest)
	if err != nil {
		t.Fatalf("SessionByDigest(session %d): %v", s.ID, err)
	}
	return got
}
