package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// lifecycleTests check the lifecycle of users, keys and sessions: updates, ending many
// sessions, listing and deleting users, and the rule that nothing can be made for a user
// that does not exist.
var lifecycleTests = []test{
	{"NewFieldsRoundTrip", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		disabled := &auth.User{AccountID: testAccount, Username: "dora", PasswordHash: "h", Role: auth.RoleMember, CreatedAt: e.now(), Disabled: true}
		if err := e.CreateUser(e.ctx(t), disabled); err != nil {
			t.Fatal(err)
		}
		checkUser(t, mustUser(t, e, disabled.ID), disabled)

		prev := e.now().Add(time.Hour)
		k := &auth.UserKey{
			UserID: u.ID, Name: "scoped", SecretHash: "h2", SecretHint: "AbC123", CreatedAt: e.now(),
			Scopes:             []auth.Scope{auth.ScopeRead, auth.ScopeKeysWrite},
			PreviousSecretHash: "h1", PreviousSecretHint: "XyZ789", PreviousSecretExpiresAt: &prev,
		}
		if err := e.CreateKey(e.ctx(t), k); err != nil {
			t.Fatal(err)
		}
		checkKey(t, mustKey(t, e, k.ID), k)

		for _, scopes := range [][]auth.Scope{nil, {}, {auth.ScopeRead, auth.ScopeSessionsWrite}} {
			s := &auth.Session{
				UserID: u.ID, TokenDigest: newDigest(t), Method: auth.MethodExternal,
				CreatedAt: e.now(), ExpiresAt: e.now().Add(time.Hour), AuthenticatedAt: e.now(), Scopes: scopes,
			}
			if err := e.CreateSession(e.ctx(t), s); err != nil {
				t.Fatal(err)
			}
			checkSession(t, mustSession(t, e, s), s)
		}
	}},
	{"NothingForAMissingUser", func(t *testing.T, e *env) {
		err := e.CreateKey(e.ctx(t), &auth.UserKey{UserID: 424242, SecretHash: "h", CreatedAt: e.now()})
		wantErr(t, "CreateKey for a missing user", err, auth.ErrNotFound)
		err = e.CreateSession(e.ctx(t), &auth.Session{
			UserID: 424242, TokenDigest: newDigest(t), Method: auth.MethodPassword,
			CreatedAt: e.now(), ExpiresAt: e.now().Add(time.Hour),
		})
		wantErr(t, "CreateSession for a missing user", err, auth.ErrNotFound)
		now := e.nowMilli()
		err = e.CreateFamily(e.ctx(t), &auth.Family{
			UserID: 424242, Method: auth.MethodPassword, CreatedAt: now,
			RefreshDigest: newDigest(t), RefreshExpiresAt: now.Add(time.Hour),
		}, &auth.Session{
			UserID: 424242, TokenDigest: newDigest(t), Method: auth.MethodPassword,
			CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		})
		wantErr(t, "CreateFamily for a missing user", err, auth.ErrNotFound)
	}},
	{"DeleteSessionsOfRevokesFamilies", func(t *testing.T, e *env) {
		// Ending sessions must end the sign-ins behind them: a refresh token left alive would
		// make a new session right away. Even a family whose access sessions have all expired
		// is revoked; the kept session's own family goes on.
		u, other := e.newUser(t, "alice"), e.newUser(t, "bob")
		keptFam, kept := e.newFamily(t, u.ID, 24*time.Hour)
		endedFam, ended := e.newFamily(t, u.ID, 24*time.Hour)
		lapsed := &auth.Family{
			UserID: u.ID, Method: auth.MethodPassword, CreatedAt: e.nowMilli(),
			RefreshDigest: newDigest(t), RefreshExpiresAt: e.nowMilli().Add(24 * time.Hour),
		}
		lapsedAccess := &auth.Session{
			UserID: u.ID, TokenDigest: newDigest(t), Method: auth.MethodPassword,
			CreatedAt: e.nowMilli(), ExpiresAt: e.nowMilli().Add(time.Minute),
		}
		if err := e.CreateFamily(e.ctx(t), lapsed, lapsedAccess); err != nil {
			t.Fatal(err)
		}
		theirs, _ := e.newFamily(t, other.ID, 24*time.Hour)
		e.clock.Advance(2 * time.Minute) // lapsedAccess is over; its family is not

		n, err := e.DeleteSessionsOf(e.ctx(t), u.ID, kept.ID)
		if err != nil || n != 1 {
			t.Fatalf("DeleteSessionsOf = %d, %v; want 1 (the other family's access session)", n, err)
		}
		familyGone(t, e, u.ID, []token.Digest{endedFam.RefreshDigest, lapsed.RefreshDigest}, []*auth.Session{ended, lapsedAccess})
		checkFamily(t, mustFamily(t, e, keptFam.RefreshDigest), keptFam)
		checkSession(t, mustSession(t, e, kept), kept)
		mustFamily(t, e, theirs.RefreshDigest)

		if _, err := e.DeleteSessionsOf(e.ctx(t), u.ID, 0); err != nil {
			t.Fatal(err)
		}
		familyGone(t, e, u.ID, []token.Digest{keptFam.RefreshDigest}, []*auth.Session{kept})
		mustFamily(t, e, theirs.RefreshDigest)
	}},
	{"UpdateUser", func(t *testing.T, e *env) {
		u, other := e.newUser(t, "alice"), e.newUser(t, "bob")
		got, err := e.UpdateUser(e.ctx(t), u.ID, func(x *auth.User) error {
			x.Disabled, x.PasswordHash = true, "new-hash"
			x.Username, x.ID = "mallory", 999 // ignored: neither can change
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		u.Disabled, u.PasswordHash = true, "new-hash"
		checkUser(t, got, u)
		checkUser(t, mustUser(t, e, u.ID), u)
		byName, err := e.UserByUsername(e.ctx(t), testAccount, "alice")
		if err != nil {
			t.Fatal(err)
		}
		checkUser(t, byName, u)
		checkUser(t, mustUser(t, e, other.ID), other)

		sentinel := errors.New("edit refused")
		_, err = e.UpdateUser(e.ctx(t), u.ID, func(x *auth.User) error { x.Disabled = false; return sentinel })
		if err != sentinel {
			t.Errorf("UpdateUser with a failing edit: err = %v, want the edit's own error", err)
		}
		checkUser(t, mustUser(t, e, u.ID), u)
		_, err = e.UpdateUser(e.ctx(t), 424242, func(*auth.User) error { return nil })
		wantErr(t, "UpdateUser(unknown)", err, auth.ErrNotFound)
	}},
	{"UpdateKey", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		k := e.newKey(t, u.ID, "k")
		used := e.now().Add(time.Minute)
		got, err := e.UpdateKey(e.ctx(t), k.ID, func(x *auth.UserKey) error {
			x.LastUsedAt, x.SecretHash, x.SecretHint = &used, "h2", "hint22"
			x.UserID = 999 // ignored: the owner never changes
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		k.LastUsedAt, k.SecretHash, k.SecretHint = &used, "h2", "hint22"
		checkKey(t, got, k)
		checkKey(t, mustKey(t, e, k.ID), k)
		list, err := e.KeysOf(e.ctx(t), u.ID)
		if err != nil || len(list) != 1 {
			t.Fatalf("KeysOf after UpdateKey = %v, %v", keyIDs(list), err)
		}
		sentinel := errors.New("edit refused")
		if _, err := e.UpdateKey(e.ctx(t), k.ID, func(*auth.UserKey) error { return sentinel }); err != sentinel {
			t.Errorf("UpdateKey with a failing edit: err = %v, want the edit's own error", err)
		}
		if _, err := e.DeleteKey(e.ctx(t), u.ID, k.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.UpdateKey(e.ctx(t), k.ID, func(*auth.UserKey) error { return nil })
		wantErr(t, "UpdateKey after DeleteKey", err, auth.ErrNotFound)
		_, err = e.Key(e.ctx(t), k.ID)
		wantErr(t, "Key after UpdateKey of a deleted key", err, auth.ErrNotFound)
	}},
	{"TouchSession", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		s := e.newSession(t, u.ID, time.Hour)
		at := e.now().Add(time.Minute)
		if err := e.TouchSession(e.ctx(t), s, at); err != nil {
			t.Fatal(err)
		}
		want := *s
		want.LastUsedAt = &at
		checkSession(t, mustSession(t, e, s), &want)

		// A session ended meanwhile stays ended.
		if _, err := e.DeleteSession(e.ctx(t), u.ID, s.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.TouchSession(e.ctx(t), s, at.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		_, err := e.SessionByDigest(e.ctx(t), s.TokenDigest)
		wantErr(t, "SessionByDigest after touching an ended session", err, auth.ErrNotFound)
		list, err := e.SessionsOf(e.ctx(t), u.ID)
		if err != nil || len(list) != 0 {
			t.Errorf("SessionsOf = %v, %v; want none", sessionIDs(list), err)
		}
	}},
	{"DeleteSessionsOf", func(t *testing.T, e *env) {
		u, other := e.newUser(t, "alice"), e.newUser(t, "bob")
		var mine []*auth.Session
		for range 4 {
			mine = append(mine, e.newSession(t, u.ID, time.Hour))
		}
		expiring := e.newSession(t, u.ID, time.Minute)
		theirs := e.newSession(t, other.ID, time.Hour)
		e.clock.Advance(time.Minute + time.Second) // expiring is over: it must not be counted

		n, err := e.DeleteSessionsOf(e.ctx(t), u.ID, mine[0].ID)
		if err != nil || n != 3 {
			t.Fatalf("DeleteSessionsOf(except one) = %d, %v; want 3", n, err)
		}
		list, err := e.SessionsOf(e.ctx(t), u.ID)
		if err != nil || !slices.Equal(sessionIDs(list), []int64{mine[0].ID}) {
			t.Errorf("SessionsOf = %v, %v; want [%d]", sessionIDs(list), err, mine[0].ID)
		}
		for _, s := range append(mine[1:], expiring) {
			_, err := e.SessionByDigest(e.ctx(t), s.TokenDigest)
			wantErr(t, "SessionByDigest of an ended session", err, auth.ErrNotFound)
		}
		checkSession(t, mustSession(t, e, theirs), theirs)

		n, err = e.DeleteSessionsOf(e.ctx(t), u.ID, 0)
		if err != nil || n != 1 {
			t.Fatalf("DeleteSessionsOf(all) = %d, %v; want 1", n, err)
		}
		n, err = e.DeleteSessionsOf(e.ctx(t), u.ID, 0)
		if err != nil || n != 0 {
			t.Fatalf("DeleteSessionsOf again = %d, %v; want 0", n, err)
		}
		checkSession(t, mustSession(t, e, theirs), theirs)
	}},
	{"RaceDeleteSessionsOf", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		for range 10 {
			e.newSession(t, u.ID, time.Hour)
		}
		counts := make([]int, 8)
		race(t, 8, func(i int) error {
			n, err := e.DeleteSessionsOf(e.ctx(t), u.ID, 0)
			counts[i] = n
			return err
		})
		total := 0
		for _, n := range counts {
			total += n
		}
		if total != 10 {
			t.Errorf("concurrent DeleteSessionsOf calls ended %d sessions in all (%v), want 10", total, counts)
		}
	}},
	{"ListUsers", func(t *testing.T, e *env) {
		var ids []int64
		for _, name := range []string{"a", "b", "c", "d", "e"} {
			ids = append(ids, e.newUser(t, name).ID)
		}
		list := func(after, before int64, limit int, fromEnd bool) []int64 {
			t.Helper()
			users, err := e.ListUsers(e.ctx(t), after, before, limit, fromEnd)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]int64, len(users))
			for i, u := range users {
				out[i] = u.ID
				if u.Username == "" {
					t.Errorf("user %d has no username", u.ID)
				}
			}
			return out
		}
		for _, tt := range []struct {
			name          string
			after, before int64
			limit         int
			fromEnd       bool
			want          []int64
		}{
			{"first two", 0, 0, 2, false, ids[:2]},
			{"all", 0, 0, 100, false, ids},
			{"after the second", ids[1], 0, 2, false, ids[2:4]},
			{"last two", 0, 0, 2, true, ids[3:]},
			{"last two before the fifth", 0, ids[4], 2, true, ids[2:4]},
			{"between", ids[0], ids[4], 100, false, ids[1:4]},
			{"between from the end", ids[0], ids[4], 2, true, ids[2:4]},
			{"nothing after the last", ids[4], 0, 10, false, []int64{}},
		} {
			if got := list(tt.after, tt.before, tt.limit, tt.fromEnd); !slices.Equal(got, tt.want) {
				t.Errorf("%s: ListUsers = %v, want %v", tt.name, got, tt.want)
			}
		}
		if n, err := e.CountUsers(e.ctx(t)); err != nil || n != 5 {
			t.Errorf("CountUsers = %d, %v; want 5", n, err)
		}
	}},
	{"DeleteUser", func(t *testing.T, e *env) {
		u, other := e.newUser(t, "alice"), e.newUser(t, "bob")
		k1, k2 := e.newKey(t, u.ID, "k1"), e.newKey(t, u.ID, "k2")
		s1, s2 := e.newSession(t, u.ID, time.Hour), e.newSession(t, u.ID, 2*time.Hour)
		fam, famAccess := e.newFamily(t, u.ID, 24*time.Hour)
		rot := e.rotation(t, fam, fam.RefreshDigest, 24*time.Hour)
		e.rotate(t, rot, auth.Rotated)
		theirFam, _ := e.newFamily(t, other.ID, 24*time.Hour)
		pending := &auth.PendingTOTP{Secret: []byte("sealed-secret"), ExpiresAt: e.now().Add(time.Hour)}
		if err := e.SetPendingTOTP(e.ctx(t), u.ID, pending); err != nil {
			t.Fatal(err)
		}
		if err := e.EnableTOTP(e.ctx(t), u.ID, pending.Secret, 1, []token.Digest{newDigest(t)}); err != nil {
			t.Fatal(err)
		}
		if err := e.SetPendingTOTP(e.ctx(t), u.ID, pending); err != nil { // a new enrolment under way
			t.Fatal(err)
		}
		theirKey, theirSession := e.newKey(t, other.ID, "theirs"), e.newSession(t, other.ID, time.Hour)

		got, err := e.DeleteUser(e.ctx(t), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkUser(t, got, u)
		_, err = e.User(e.ctx(t), u.ID)
		wantErr(t, "User after DeleteUser", err, auth.ErrNotFound)
		_, err = e.UserByUsername(e.ctx(t), testAccount, "alice")
		wantErr(t, "UserByUsername after DeleteUser", err, auth.ErrNotFound)
		for _, k := range []*auth.UserKey{k1, k2} {
			_, err = e.Key(e.ctx(t), k.ID)
			wantErr(t, "Key of a deleted user", err, auth.ErrNotFound)
		}
		for _, s := range []*auth.Session{s1, s2} {
			_, err = e.SessionByDigest(e.ctx(t), s.TokenDigest)
			wantErr(t, "SessionByDigest of a deleted user", err, auth.ErrNotFound)
		}
		familyGone(t, e, u.ID, []token.Digest{fam.RefreshDigest, rot.Next}, []*auth.Session{famAccess, rot.Access})
		_, err = e.TOTP(e.ctx(t), u.ID)
		wantErr(t, "TOTP of a deleted user", err, auth.ErrNotFound)
		_, err = e.PendingTOTP(e.ctx(t), u.ID)
		wantErr(t, "PendingTOTP of a deleted user", err, auth.ErrNotFound)
		if keys, err := e.KeysOf(e.ctx(t), u.ID); err != nil || len(keys) != 0 {
			t.Errorf("KeysOf a deleted user = %v, %v", keyIDs(keys), err)
		}
		if sessions, err := e.SessionsOf(e.ctx(t), u.ID); err != nil || len(sessions) != 0 {
			t.Errorf("SessionsOf a deleted user = %v, %v", sessionIDs(sessions), err)
		}
		users, err := e.ListUsers(e.ctx(t), 0, 0, 10, false)
		if err != nil || len(users) != 1 || users[0].ID != other.ID {
			t.Errorf("ListUsers after DeleteUser = %v, %v; want only bob", users, err)
		}
		if n, err := e.CountUsers(e.ctx(t)); err != nil || n != 1 {
			t.Errorf("CountUsers = %d, %v; want 1", n, err)
		}
		_, err = e.DeleteUser(e.ctx(t), u.ID)
		wantErr(t, "second DeleteUser", err, auth.ErrNotFound)
		_, err = e.DeleteUser(e.ctx(t), 424242)
		wantErr(t, "DeleteUser(unknown)", err, auth.ErrNotFound)
		_, err = e.UpdateUser(e.ctx(t), u.ID, func(*auth.User) error { return nil })
		wantErr(t, "UpdateUser of a deleted user", err, auth.ErrNotFound)

		// The others' records are untouched, and the username is free again, for a new id.
		checkKey(t, mustKey(t, e, theirKey.ID), theirKey)
		checkFamily(t, mustFamily(t, e, theirFam.RefreshDigest), theirFam)
		checkSession(t, mustSession(t, e, theirSession), theirSession)
		again := e.newUser(t, "alice")
		if again.ID == u.ID {
			t.Errorf("a new user got the id of a deleted one")
		}
		if keys, _ := e.KeysOf(e.ctx(t), again.ID); len(keys) != 0 {
			t.Errorf("the new alice inherited keys %v", keyIDs(keys))
		}
	}},
	{"RaceDeleteUser", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		e.newKey(t, u.ID, "k")
		e.newSession(t, u.ID, time.Hour)
		wins := race(t, 20, func(int) error {
			_, err := e.DeleteUser(e.ctx(t), u.ID)
			return err
		})
		if wins != 1 {
			t.Errorf("%d of 20 concurrent DeleteUser calls succeeded, want 1", wins)
		}
	}},
	{"RaceDeleteUserWithCreates", func(t *testing.T, e *env) {
		// Keys and sessions made while the user is deleted: whichever way each race goes,
		// nothing of the user's remains once everything is done.
		u := e.newUser(t, "alice")
		keys := make([]*auth.UserKey, 20)
		sessions := make([]*auth.Session, 20)
		families := make([]*auth.Family, 10)
		race(t, 51, func(i int) error {
			switch {
			case i >= 41:
				now := e.nowMilli()
				f := &auth.Family{
					UserID: u.ID, Method: auth.MethodPassword, CreatedAt: now,
					RefreshDigest: newDigest(t), RefreshExpiresAt: now.Add(time.Hour),
				}
				families[i-41] = f
				return e.CreateFamily(e.ctx(t), f, &auth.Session{
					UserID: u.ID, TokenDigest: newDigest(t), Method: auth.MethodPassword,
					CreatedAt: now, ExpiresAt: now.Add(time.Hour),
				})
			case i == 40:
				_, err := e.DeleteUser(e.ctx(t), u.ID)
				return err
			case i%2 == 0:
				k := &auth.UserKey{UserID: u.ID, SecretHash: "h", CreatedAt: e.now()}
				keys[i/2] = k
				return e.CreateKey(e.ctx(t), k)
			default:
				s := &auth.Session{
					UserID: u.ID, TokenDigest: newDigest(t), Method: auth.MethodPassword,
					CreatedAt: e.now(), ExpiresAt: e.now().Add(time.Hour),
				}
				sessions[i/2] = s
				return e.CreateSession(e.ctx(t), s)
			}
		})
		for _, k := range keys {
			if k.ID != 0 {
				if _, err := e.Key(e.ctx(t), k.ID); !errors.Is(err, auth.ErrNotFound) {
					t.Errorf("key %d of the deleted user: err = %v, want ErrNotFound", k.ID, err)
				}
			}
		}
		for _, s := range sessions {
			if _, err := e.SessionByDigest(e.ctx(t), s.TokenDigest); !errors.Is(err, auth.ErrNotFound) {
				t.Errorf("session %d of the deleted user: err = %v, want ErrNotFound", s.ID, err)
			}
		}
		for _, f := range families {
			if _, err := e.FamilyByRefreshDigest(e.ctx(t), f.RefreshDigest); !errors.Is(err, auth.ErrNotFound) {
				t.Errorf("a family of the deleted user: err = %v, want ErrNotFound", err)
			}
		}
		if keys, _ := e.KeysOf(e.ctx(t), u.ID); len(keys) != 0 {
			t.Errorf("KeysOf the deleted user = %v", keyIDs(keys))
		}
		if sessions, _ := e.SessionsOf(e.ctx(t), u.ID); len(sessions) != 0 {
			t.Errorf("SessionsOf the deleted user = %v", sessionIDs(sessions))
		}
	}},
}
