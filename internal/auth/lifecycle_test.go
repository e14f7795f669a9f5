package auth_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/memstore"
	"github.com/authgraph/authgraph/internal/token"
)

// touchCounter counts the lastUsedAt writes that reach the store.
type touchCounter struct {
	*memstore.Store
	touches atomic.Int32
}

func (s *touchCounter) TouchSession(ctx context.Context, sess *auth.Session, at time.Time) error {
	s.touches.Add(1)
	return s.Store.TouchSession(ctx, sess, at)
}

type lfixture struct {
	*fixture
	counter *touchCounter
}

// newLifecycleFixture is newFixture with a configuration of its own.
func newLifecycleFixture(t *testing.T, cfg auth.Config) *lfixture {
	t.Helper()
	h, err := argon2id.New(fastParams)
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewFake(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	st := &touchCounter{Store: memstore.New(c)}
	ch := &countingHasher{Hasher: h}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 24 * time.Hour
	}
	f := &lfixture{fixture: &fixture{svc: auth.NewService(st, ch, c, cfg), store: st.Store, clock: c, hasher: ch}, counter: st}
	if _, err := f.svc.EnsureUser(context.Background(), "admin", "admin-password", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	return f
}

// member makes a member and answers a context signed in as them.
func (f *lfixture) member(t *testing.T, name string) context.Context {
	t.Helper()
	if _, err := f.svc.CreateUser(f.as(t, "admin", "admin-password"), name, name+"-password", ""); err != nil {
		t.Fatal(err)
	}
	return f.as(t, name, name+"-password")
}

// keySession makes a key with scopes as ctx's user and answers a context signed in with it.
func (f *lfixture) keySession(t *testing.T, ctx context.Context, scopes ...auth.Scope) context.Context {
	t.Helper()
	nk, err := f.svc.CreateUserKey(ctx, "k", nil, scopes...)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := f.svc.LoginUserKey(context.Background(), nk.Key.ID, nk.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.Authenticate(context.Background(), ns.Token)
	if err != nil {
		t.Fatal(err)
	}
	return auth.WithPrincipal(context.Background(), p)
}

func tokenOf(ctx context.Context) string { return auth.PrincipalFrom(ctx).Token }

func wantCode(t *testing.T, what string, err error, want auth.Code) {
	t.Helper()
	if code(err) != want {
		t.Fatalf("%s: code %q, want %q (%v)", what, code(err), want, err)
	}
}

func TestPasswordPolicy(t *testing.T) {
	for _, tt := range []struct {
		password, username string
		ok                 bool
	}{
		{"correct-horse-staple", "alice", true},
		{"twelve chars", "alice", true},
		{"all lowercase words are fine", "alice", true},
		{"ünïcödé-pässwörd", "alice", true},
		{"eleven char", "alice", false},
		{strings.Repeat("p", 128) + "x", "alice", false},
		{strings.Repeat("ab", 64), "alice", true},
		{"alice-the-admin", "alice-the-admin", false},
		{"Alice-The-Admin", "alice-the-admin", false},
		{"zzzzzzzzzzzzzz", "alice", false},
		{"password1234", "alice", false},
		{"PASSWORD1234", "alice", false},
		{"qwertyuiopasdf", "alice", false},
		{"\xff\xfe-not-utf-8-at-all", "alice", false},
	} {
		err := auth.CheckPassword(tt.password, tt.username)
		if (err == nil) != tt.ok {
			t.Errorf("CheckPassword(%.20q, %q) = %v, want ok=%v", tt.password, tt.username, err, tt.ok)
		}
		if err != nil && code(err) != auth.CodeInvalidInput {
			t.Errorf("CheckPassword(%.20q): code %q", tt.password, code(err))
		}
	}
}

func TestChangePassword(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{})
	alice := f.member(t, "alice")
	other := f.as(t, "alice", "alice-password")
	keyCtx := f.keySession(t, alice)
	bg := context.Background()

	_, _, err := f.svc.ChangePassword(alice, "wrong-password!", "a-brand-new-password", true)
	wantCode(t, "wrong current password", err, auth.CodeInvalidCredentials)
	_, _, err = f.svc.ChangePassword(alice, "alice-password", "short", true)
	wantCode(t, "too short", err, auth.CodeInvalidInput)
	_, _, err = f.svc.ChangePassword(alice, "alice-password", "alice", true)
	wantCode(t, "the username", err, auth.CodeInvalidInput)
	_, _, err = f.svc.ChangePassword(alice, "alice-password", "password1234", true)
	wantCode(t, "a common password", err, auth.CodeInvalidInput)
	_, _, err = f.svc.ChangePassword(alice, "alice-password", "alice-password", true)
	wantCode(t, "the same password", err, auth.CodeInvalidInput)
	_, _, err = f.svc.ChangePassword(keyCtx, "alice-password", "a-brand-new-password", true)
	wantCode(t, "from a key's session", err, auth.CodeForbidden)

	u, ended, err := f.svc.ChangePassword(alice, "alice-password", "a-brand-new-password", true)
	if err != nil || u.Username != "alice" || ended != 2 {
		t.Fatalf("ChangePassword = %v, %d, %v; want alice and 2 sessions ended", u, ended, err)
	}
	for name, ctx := range map[string]context.Context{"other password session": other, "key session": keyCtx} {
		if _, err := f.svc.Authenticate(bg, tokenOf(ctx)); code(err) != auth.CodeUnauthenticated {
			t.Errorf("%s after changePassword: %v, want UNAUTHENTICATED", name, err)
		}
	}
	if _, err := f.svc.Authenticate(bg, tokenOf(alice)); err != nil {
		t.Errorf("the current session after changePassword: %v", err)
	}
	if _, err := f.svc.LoginPassword(bg, "alice", "alice-password", ""); code(err) != auth.CodeInvalidCredentials {
		t.Errorf("login with the old password: %v", err)
	}
	fresh := f.as(t, "alice", "a-brand-new-password")

	// endOtherSessions false keeps them.
	if _, ended, err := f.svc.ChangePassword(fresh, "a-brand-new-password", "yet-another-password", false); err != nil || ended != 0 {
		t.Fatalf("ChangePassword keeping sessions = %d, %v", ended, err)
	}
	if _, err := f.svc.Authenticate(bg, tokenOf(alice)); err != nil {
		t.Errorf("another session after changePassword(endOtherSessions: false): %v", err)
	}
}

func TestRequireRecentAuthentication(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{ReauthWindow: 10 * time.Minute})
	alice := f.member(t, "alice")
	keyCtx := f.keySession(t, alice)
	if err := f.svc.RequireRecentAuthentication(alice); err != nil {
		t.Fatalf("a fresh password session: %v", err)
	}
	wantCode(t, "a fresh key session", f.svc.RequireRecentAuthentication(keyCtx), auth.CodeReauthenticationRequired)
	wantCode(t, "no session", f.svc.RequireRecentAuthentication(context.Background()), auth.CodeUnauthenticated)

	f.clock.Advance(10 * time.Minute)
	if err := f.svc.RequireRecentAuthentication(alice); err != nil {
		t.Fatalf("at the end of the window: %v", err)
	}
	f.clock.Advance(time.Second)
	err := f.svc.RequireRecentAuthentication(alice)
	wantCode(t, "past the window", err, auth.CodeReauthenticationRequired)
	if !strings.Contains(auth.ErrorMessage(err), "10 minutes") {
		t.Errorf("message %q does not say the window", auth.ErrorMessage(err))
	}
	// changePassword applies it, before looking at the password.
	_, _, err = f.svc.ChangePassword(alice, "alice-password", "a-brand-new-password", true)
	wantCode(t, "changePassword with a stale session", err, auth.CodeReauthenticationRequired)
	// Signing in again is the way out.
	again := f.as(t, "alice", "alice-password")
	if _, _, err := f.svc.ChangePassword(again, "alice-password", "a-brand-new-password", true); err != nil {
		t.Fatalf("changePassword after signing in again: %v", err)
	}
}

func TestKeyScopes(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{})
	alice := f.member(t, "alice")

	for _, tt := range []struct {
		name   string
		scopes []auth.Scope
		want   auth.Code
	}{
		{"an empty list", []auth.Scope{}, auth.CodeInvalidInput},
		{"an unknown scope", []auth.Scope{"write"}, auth.CodeInvalidInput},
		{"account:write", []auth.Scope{auth.ScopeAccountWrite}, auth.CodeInvalidInput},
		{"admin for a member", []auth.Scope{auth.ScopeAdmin}, auth.CodeInvalidInput},
	} {
		_, err := f.svc.CreateUserKey(alice, "", nil, tt.scopes...)
		wantCode(t, tt.name, err, tt.want)
	}
	nk, err := f.svc.CreateUserKey(alice, "", nil, auth.ScopeSessionsWrite, auth.ScopeRead, auth.ScopeRead)
	if err != nil || !slices.Equal(nk.Key.Scopes, []auth.Scope{auth.ScopeRead, auth.ScopeSessionsWrite}) {
		t.Fatalf("scopes are not deduplicated and ordered: %v, %v", nk.Key.Scopes, err)
	}

	// A read-only key's session may read and log itself out, nothing else.
	readOnly := f.keySession(t, alice, auth.ScopeRead)
	if _, err := f.svc.Me(readOnly); err != nil {
		t.Fatalf("read: %v", err)
	}
	if _, err := f.svc.Sessions(readOnly, auth.PrincipalFrom(readOnly).User.ID); err != nil {
		t.Fatalf("listing sessions: %v", err)
	}
	_, err = f.svc.CreateUserKey(readOnly, "", nil)
	wantCode(t, "createUserKey without keys:write", err, auth.CodeForbidden)
	_, err = f.svc.DeleteUserKey(readOnly, nk.Key.ID)
	wantCode(t, "deleteUserKey without keys:write", err, auth.CodeForbidden)
	_, err = f.svc.RerollUserKey(readOnly, nk.Key.ID, 0)
	wantCode(t, "rerollUserKey without keys:write", err, auth.CodeForbidden)
	other := auth.PrincipalFrom(alice).Session.ID
	_, err = f.svc.DeleteSession(readOnly, &other)
	wantCode(t, "ending another session without sessions:write", err, auth.CodeForbidden)
	_, err = f.svc.DeleteSessions(readOnly, auth.SessionsOthers)
	wantCode(t, "deleteSessions without sessions:write", err, auth.CodeForbidden)
	if _, err := f.svc.DeleteSession(readOnly, nil); err != nil {
		t.Fatalf("logging out needs no scope: %v", err)
	}

	// A limited session cannot widen its rights through a new key.
	keysOnly := f.keySession(t, alice, auth.ScopeKeysWrite)
	_, err = f.svc.CreateUserKey(keysOnly, "", nil, auth.ScopeKeysWrite, auth.ScopeRead)
	wantCode(t, "a scope the session lacks", err, auth.CodeForbidden)
	inherited, err := f.svc.CreateUserKey(keysOnly, "", nil)
	if err != nil || !slices.Equal(inherited.Key.Scopes, []auth.Scope{auth.ScopeKeysWrite}) {
		t.Fatalf("a key made without scopes by a limited session = %v, %v; want the session's", inherited.Key.Scopes, err)
	}
	_, err = f.svc.Me(keysOnly)
	wantCode(t, "me without read", err, auth.CodeForbidden)

	// A key made without scopes has the user's full rights as a key: not account:write, and
	// admin only for an admin.
	full := f.keySession(t, alice)
	if got := auth.PrincipalFrom(full).Session.Scopes; !slices.Equal(got, auth.KeyScopes(auth.RoleMember)) {
		t.Fatalf("a full key's session of a member holds %v", got)
	}
	adminKey := f.keySession(t, f.as(t, "admin", "admin-password"))
	if _, err := f.svc.ListUsers(adminKey, auth.PageRequest{}); err != nil {
		t.Fatalf("an admin's full key lists users: %v", err)
	}
	adminRead := f.keySession(t, f.as(t, "admin", "admin-password"), auth.ScopeRead)
	_, err = f.svc.ListUsers(adminRead, auth.PageRequest{})
	wantCode(t, "an admin's key without the admin scope", err, auth.CodeForbidden)
	if _, err := f.svc.UserKeys(adminRead, auth.PrincipalFrom(alice).User.ID); code(err) != auth.CodeNotFound {
		t.Fatalf("an admin's key without the admin scope reads others' keys: %v", err)
	}
}

func TestUserKeyMaxLifetime(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{UserKeyMaxTTL: 90 * 24 * time.Hour, SessionTTL: 30 * 24 * time.Hour})
	alice := f.member(t, "alice")
	nk, err := f.svc.CreateUserKey(alice, "", nil)
	if err != nil || nk.Key.ExpiresAt == nil || !nk.Key.ExpiresAt.Equal(f.clock.Now().Add(90*24*time.Hour)) {
		t.Fatalf("a key made without expiresAt = %v, %v; want the maximum", nk.Key.ExpiresAt, err)
	}
	tooLate := f.clock.Now().Add(91 * 24 * time.Hour)
	_, err = f.svc.CreateUserKey(alice, "", &tooLate)
	wantCode(t, "expiresAt past the maximum", err, auth.CodeInvalidInput)

	// A session never outlives its key.
	soon := f.clock.Now().Add(2 * time.Hour)
	short, err := f.svc.CreateUserKey(alice, "", &soon)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := f.svc.LoginUserKey(context.Background(), short.Key.ID, short.Secret, "")
	if err != nil || !ns.Session.ExpiresAt.Equal(soon) {
		t.Fatalf("a session of a key expiring in 2h ends at %v, %v; want %v", ns.Session.ExpiresAt, err, soon)
	}
}

func TestRerollUserKey(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{})
	alice, bob := f.member(t, "alice"), f.member(t, "bob")
	bg := context.Background()
	login := func(k *auth.NewUserKey, secret string) error {
		_, err := f.svc.LoginUserKey(bg, k.Key.ID, secret, "")
		return err
	}
	nk, err := f.svc.CreateUserKey(alice, "ci", nil, auth.ScopeRead)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.RerollUserKey(bob, nk.Key.ID, 0)
	wantCode(t, "bob rerolling alice's key", err, auth.CodeNotFound)
	_, err = f.svc.RerollUserKey(alice, nk.Key.ID, -time.Second)
	wantCode(t, "a negative grace", err, auth.CodeInvalidInput)
	_, err = f.svc.RerollUserKey(alice, nk.Key.ID, 8*24*time.Hour)
	wantCode(t, "a grace over a week", err, auth.CodeInvalidInput)

	r1, err := f.svc.RerollUserKey(alice, nk.Key.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Secret == nk.Secret || r1.Key.ID != nk.Key.ID || !slices.Equal(r1.Key.Scopes, nk.Key.Scopes) {
		t.Fatalf("reroll answered %+v", r1.Key)
	}
	// Both secrets work during the grace period, each for one argon2 verify.
	for name, secret := range map[string]string{"new": r1.Secret, "old": nk.Secret} {
		before := f.hasher.verifies.Load()
		if err := login(r1, secret); err != nil {
			t.Fatalf("the %s secret during the grace period: %v", name, err)
		}
		if n := f.hasher.verifies.Load() - before; n != 1 {
			t.Errorf("the %s secret cost %d verifies, want 1", name, n)
		}
	}
	before := f.hasher.verifies.Load()
	wrong := nk.Secret[:len(nk.Secret)-1] + "x" // a last character it does not have
	if wrong == nk.Secret {
		wrong = wrong[:len(wrong)-1] + "y"
	}
	wantCode(t, "a wrong secret", login(r1, wrong), auth.CodeInvalidCredentials)
	if n := f.hasher.verifies.Load() - before; n != 1 {
		t.Errorf("a wrong secret during the grace period cost %d verifies, want 1", n)
	}
	f.clock.Advance(time.Hour)
	wantCode(t, "the old secret after the grace period", login(r1, nk.Secret), auth.CodeInvalidCredentials)
	if err := login(r1, r1.Secret); err != nil {
		t.Fatalf("the new secret after the grace period: %v", err)
	}

	// Without grace the old secret stops at once; a second reroll ends the first's grace.
	r2, err := f.svc.RerollUserKey(alice, nk.Key.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r3, err := f.svc.RerollUserKey(alice, nk.Key.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, old := range []string{r1.Secret, r2.Secret} {
		wantCode(t, "a replaced secret after a reroll without grace", login(r3, old), auth.CodeInvalidCredentials)
	}
	if err := login(r3, r3.Secret); err != nil {
		t.Fatal(err)
	}
}

func TestLastUsedAtIsThrottled(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{})
	bg := context.Background()
	ns, err := f.svc.LoginPassword(bg, "admin", "admin-password", "")
	if err != nil {
		t.Fatal(err)
	}
	if ns.Session.LastUsedAt == nil || !ns.Session.LastUsedAt.Equal(ns.Session.CreatedAt) {
		t.Fatalf("a new session's lastUsedAt = %v, want its creation", ns.Session.LastUsedAt)
	}
	auth1 := func() *auth.Session {
		t.Helper()
		p, err := f.svc.Authenticate(bg, ns.Token)
		if err != nil {
			t.Fatal(err)
		}
		return p.Session
	}
	for range 100 {
		auth1()
		f.clock.Advance(500 * time.Millisecond)
	}
	if n := f.counter.touches.Load(); n != 0 {
		t.Fatalf("%d lastUsedAt writes in the first 50s, want 0", n)
	}
	f.clock.Advance(10 * time.Second)
	for range 100 {
		auth1()
	}
	if n := f.counter.touches.Load(); n != 1 {
		t.Fatalf("%d lastUsedAt writes for 100 requests a minute in, want 1", n)
	}
	now := f.clock.Now()
	if got := auth1().LastUsedAt; got == nil || !got.Equal(now) {
		t.Fatalf("lastUsedAt = %v, want %v", got, now)
	}
}

func TestIdleTimeout(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{IdleTimeout: 30 * time.Minute})
	bg := context.Background()
	alice := f.member(t, "alice")
	tok := tokenOf(alice)
	idle := f.as(t, "alice", "alice-password")

	f.clock.Advance(20 * time.Minute)
	if _, err := f.svc.Authenticate(bg, tok); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Minute) // 30 minutes since its last use: not over
	if _, err := f.svc.Authenticate(bg, tok); err != nil {
		t.Fatalf("a session used 30 minutes ago: %v", err)
	}
	// idle has not been used for 50 minutes: it is over, and no longer listed.
	if _, err := f.svc.Authenticate(bg, tokenOf(idle)); code(err) != auth.CodeUnauthenticated {
		t.Fatalf("an idle session: %v", err)
	}
	p, _ := f.svc.Authenticate(bg, tok)
	sessions, err := f.svc.Sessions(auth.WithPrincipal(bg, p), p.User.ID)
	if err != nil || len(sessions) != 1 || sessions[0].ID != p.Session.ID {
		t.Fatalf("sessions after one went idle: %v, %v", len(sessions), err)
	}
	f.clock.Advance(31 * time.Minute)
	if _, err := f.svc.Authenticate(bg, tok); code(err) != auth.CodeUnauthenticated {
		t.Fatalf("a session unused for 31 minutes: %v", err)
	}
}

func TestIdleTimeoutOffByDefault(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{})
	alice := f.member(t, "alice")
	f.clock.Advance(23 * time.Hour)
	if _, err := f.svc.Authenticate(context.Background(), tokenOf(alice)); err != nil {
		t.Fatalf("a session unused for 23h, with no idle timeout: %v", err)
	}
}

func TestDeleteSessions(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{})
	bg := context.Background()
	alice := f.member(t, "alice")
	others := []context.Context{f.as(t, "alice", "alice-password"), f.keySession(t, alice)}
	bob := f.member(t, "bob")

	n, err := f.svc.DeleteSessions(alice, auth.SessionsOthers)
	if err != nil || n != 2 {
		t.Fatalf("deleteSessions(OTHERS) = %d, %v; want 2", n, err)
	}
	for _, ctx := range others {
		if _, err := f.svc.Authenticate(bg, tokenOf(ctx)); code(err) != auth.CodeUnauthenticated {
			t.Fatalf("another session after deleteSessions(OTHERS): %v", err)
		}
	}
	if _, err := f.svc.Authenticate(bg, tokenOf(alice)); err != nil {
		t.Fatalf("the current session after deleteSessions(OTHERS): %v", err)
	}
	if _, err := f.svc.Authenticate(bg, tokenOf(bob)); err != nil {
		t.Fatalf("bob's session after alice's deleteSessions: %v", err)
	}
	f.as(t, "alice", "alice-password")
	if n, err := f.svc.DeleteSessions(alice, auth.SessionsAll); err != nil || n != 2 {
		t.Fatalf("deleteSessions(ALL) = %d, %v; want 2", n, err)
	}
	if _, err := f.svc.Authenticate(bg, tokenOf(alice)); code(err) != auth.CodeUnauthenticated {
		t.Fatalf("the current session after deleteSessions(ALL): %v", err)
	}
	_, err = f.svc.DeleteSessions(bob, "SOME")
	wantCode(t, "an unknown scope", err, auth.CodeInvalidInput)
}

func TestDisableUser(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{})
	bg := context.Background()
	admin := f.as(t, "admin", "admin-password")
	alice := f.member(t, "alice")
	aliceID := auth.PrincipalFrom(alice).User.ID
	nk, err := f.svc.CreateUserKey(alice, "", nil)
	if err != nil {
		t.Fatal(err)
	}

	_, err = f.svc.SetUserDisabled(alice, aliceID, true)
	wantCode(t, "a member disabling", err, auth.CodeForbidden)
	_, err = f.svc.SetUserDisabled(admin, auth.PrincipalFrom(admin).User.ID, true)
	wantCode(t, "disabling oneself", err, auth.CodeInvalidInput)
	_, err = f.svc.SetUserDisabled(admin, 4242, true)
	wantCode(t, "an unknown user", err, auth.CodeNotFound)

	u, err := f.svc.SetUserDisabled(admin, aliceID, true)
	if err != nil || !u.Disabled {
		t.Fatalf("disable = %+v, %v", u, err)
	}
	if _, err := f.svc.Authenticate(bg, tokenOf(alice)); code(err) != auth.CodeUnauthenticated {
		t.Fatalf("a disabled user's session: %v", err)
	}
	// No session of a disabled user can be made, not even by a sign-in that checked the
	// user before the flag was set: the store checks it again once the session is saved.
	escaped, _ := token.New(token.Session)
	now := f.clock.Now()
	err = f.store.CreateSession(bg, &auth.Session{UserID: aliceID, TokenDigest: token.Sum(escaped), Method: auth.MethodPassword, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	if !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("CreateSession for a disabled user: %v, want ErrNotFound", err)
	}
	if _, err := f.svc.Authenticate(bg, escaped); code(err) != auth.CodeUnauthenticated {
		t.Fatalf("a disabled user's refused session: %v", err)
	}
	_, err = f.svc.LoginPassword(bg, "alice", "alice-password", "")
	wantCode(t, "a disabled user's password", err, auth.CodeInvalidCredentials)
	if auth.ErrorMessage(err) != auth.MsgInvalidCredentials {
		t.Fatalf("a disabled user is told apart: %q", auth.ErrorMessage(err))
	}
	_, err = f.svc.LoginUserKey(bg, nk.Key.ID, nk.Secret, "")
	wantCode(t, "a disabled user's key", err, auth.CodeInvalidCredentials)

	if u, err := f.svc.SetUserDisabled(admin, aliceID, false); err != nil || u.Disabled {
		t.Fatalf("enable = %+v, %v", u, err)
	}
	f.as(t, "alice", "alice-password")
}

func TestDeleteUserAndSessionsOfUser(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{})
	bg := context.Background()
	admin := f.as(t, "admin", "admin-password")
	alice := f.member(t, "alice")
	aliceID := auth.PrincipalFrom(alice).User.ID
	second := f.as(t, "alice", "alice-password")

	_, err := f.svc.DeleteSessionsOfUser(alice, aliceID)
	wantCode(t, "a member ending a user's sessions", err, auth.CodeForbidden)
	if n, err := f.svc.DeleteSessionsOfUser(admin, aliceID); err != nil || n != 2 {
		t.Fatalf("deleteUserSessions = %d, %v; want 2", n, err)
	}
	for _, ctx := range []context.Context{alice, second} {
		if _, err := f.svc.Authenticate(bg, tokenOf(ctx)); code(err) != auth.CodeUnauthenticated {
			t.Fatalf("a session after deleteUserSessions: %v", err)
		}
	}
	_, err = f.svc.DeleteSessionsOfUser(admin, 4242)
	wantCode(t, "sessions of an unknown user", err, auth.CodeNotFound)

	alice = f.as(t, "alice", "alice-password")
	_, err = f.svc.DeleteUser(alice, aliceID)
	wantCode(t, "a member deleting", err, auth.CodeForbidden)
	_, err = f.svc.DeleteUser(admin, auth.PrincipalFrom(admin).User.ID)
	wantCode(t, "deleting oneself", err, auth.CodeInvalidInput)
	if u, err := f.svc.DeleteUser(admin, aliceID); err != nil || u.Username != "alice" {
		t.Fatalf("deleteUser = %+v, %v", u, err)
	}
	if _, err := f.svc.Authenticate(bg, tokenOf(alice)); code(err) != auth.CodeUnauthenticated {
		t.Fatalf("a deleted user's session: %v", err)
	}
	_, err = f.svc.LoginPassword(bg, "alice", "alice-password", "")
	wantCode(t, "a deleted user's password", err, auth.CodeInvalidCredentials)
	_, err = f.svc.DeleteUser(admin, aliceID)
	wantCode(t, "deleting twice", err, auth.CodeNotFound)
}

func TestListUsersPages(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{})
	admin := f.as(t, "admin", "admin-password")
	for _, name := range []string{"b", "c", "d", "e", "f"} {
		if _, err := f.svc.CreateUser(admin, name, "a-long-password", ""); err != nil {
			t.Fatal(err)
		}
	}
	names := func(p *auth.UserPage) string {
		var s []string
		for _, u := range p.Users {
			s = append(s, u.Username)
		}
		return strings.Join(s, ",")
	}
	for _, tt := range []struct {
		name       string
		req        auth.PageRequest
		want       string
		prev, next bool
	}{
		{"all", auth.PageRequest{}, "admin,b,c,d,e,f", false, false},
		{"first 2", auth.PageRequest{First: 2}, "admin,b", false, true},
		{"first 2 after b", auth.PageRequest{First: 2, After: 2}, "c,d", true, true},
		{"first 10 after d", auth.PageRequest{First: 10, After: 4}, "e,f", true, false},
		{"last 2", auth.PageRequest{Last: 2}, "e,f", true, false},
		{"last 2 before e", auth.PageRequest{Last: 2, Before: 5}, "c,d", true, true},
		{"last 10 before c", auth.PageRequest{Last: 10, Before: 3}, "admin,b", false, true},
		{"between b and f", auth.PageRequest{After: 2, Before: 6}, "c,d,e", true, true},
		{"after the last", auth.PageRequest{After: 6}, "", true, false},
	} {
		page, err := f.svc.ListUsers(admin, tt.req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := names(page); got != tt.want || page.HasPreviousPage != tt.prev || page.HasNextPage != tt.next || page.TotalCount != 6 {
			t.Errorf("%s: %q prev=%v next=%v total=%d; want %q prev=%v next=%v total=6",
				tt.name, got, page.HasPreviousPage, page.HasNextPage, page.TotalCount, tt.want, tt.prev, tt.next)
		}
	}
	_, err := f.svc.ListUsers(admin, auth.PageRequest{First: 1, Last: 1})
	wantCode(t, "first and last", err, auth.CodeInvalidInput)
	member := f.as(t, "b", "a-long-password")
	_, err = f.svc.ListUsers(member, auth.PageRequest{})
	wantCode(t, "a member listing users", err, auth.CodeForbidden)
	// A member reading another user by id: not found, never forbidden.
	_, err = f.svc.User(member, 3)
	wantCode(t, "a member reading another user", err, auth.CodeNotFound)
	if u, err := f.svc.User(member, 2); err != nil || u.Username != "b" {
		t.Fatalf("a member reading themselves: %v, %v", u, err)
	}
	if u, err := f.svc.User(admin, 3); err != nil || u.Username != "c" {
		t.Fatalf("an admin reading a user: %v, %v", u, err)
	}
}
