package auth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

func (f *fixture) loginRefreshable(t *testing.T) *auth.NewSession {
	t.Helper()
	ns, err := f.svc.LoginPassword(auth.WithClient(context.Background(), auth.ClientInfo{Name: "app"}), "admin", "admin-password", "phone", auth.Refreshable(true))
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func (f *fixture) refresh(t *testing.T, tok string) *auth.NewSession {
	t.Helper()
	ns, err := f.svc.Refresh(auth.WithClient(context.Background(), auth.ClientInfo{Name: "app"}), tok)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	return ns
}

// wantAuth fails t unless tok authenticates (ok) or is refused as UNAUTHENTICATED (!ok).
func (f *fixture) wantAuth(t *testing.T, what, tok string, ok bool) {
	t.Helper()
	_, err := f.svc.Authenticate(context.Background(), tok)
	if ok && err != nil {
		t.Errorf("%s: Authenticate = %v, want a session", what, err)
	}
	if !ok && code(err) != auth.CodeUnauthenticated {
		t.Errorf("%s: Authenticate = %v, want UNAUTHENTICATED", what, err)
	}
}

func (f *fixture) wantRefreshCode(t *testing.T, what, tok string, want auth.Code) {
	t.Helper()
	ns, err := f.svc.Refresh(context.Background(), tok)
	if code(err) != want || ns != nil {
		t.Errorf("%s: Refresh = %+v, %v; want %s", what, ns, err, want)
	}
}

func TestRefreshableLogin(t *testing.T) {
	f := newFixture(t, fastParams)
	now := f.clock.Now()
	ns := f.loginRefreshable(t)
	if token.Check(token.Session, ns.Token) != nil || token.Check(token.Refresh, ns.RefreshToken) != nil {
		t.Fatalf("malformed pair %.8q… %.8q…", ns.Token, ns.RefreshToken)
	}
	if !ns.Session.ExpiresAt.Equal(now.Add(auth.DefaultAccessTokenTTL)) || !ns.RefreshExpiresAt.Equal(now.Add(auth.DefaultRefreshTokenTTL)) {
		t.Fatalf("access expires %v, refresh %v", ns.Session.ExpiresAt, ns.RefreshExpiresAt)
	}
	if !ns.Session.Refreshable() || ns.Session.Name != "phone" || ns.Session.ClientName != "app" {
		t.Fatalf("session %+v", ns.Session)
	}
	f.wantAuth(t, "the access token", ns.Token, true)

	// Without the option, nothing changes: one session token of SessionTTL, no refresh token.
	plain, err := f.svc.LoginPassword(context.Background(), "admin", "admin-password", "")
	if err != nil || plain.RefreshToken != "" || plain.Session.Refreshable() || !plain.Session.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("plain login: %+v, %v", plain, err)
	}
	plain, err = f.svc.LoginPassword(context.Background(), "admin", "admin-password", "", auth.Refreshable(false))
	if err != nil || plain.RefreshToken != "" {
		t.Fatalf("Refreshable(false) login: %+v, %v", plain, err)
	}
}

func TestRefreshRotatesAndGraceReplays(t *testing.T) {
	f := newFixture(t, fastParams)
	first := f.loginRefreshable(t)
	f.clock.Advance(14 * time.Minute)
	second := f.refresh(t, first.RefreshToken)
	if second.Token == first.Token || second.RefreshToken == first.RefreshToken {
		t.Fatal("refresh answered the old pair")
	}
	if second.Session.ID == first.Session.ID || second.Session.FamilyID != first.Session.FamilyID {
		t.Fatalf("successor session %d in family %d, first %d in %d", second.Session.ID, second.Session.FamilyID,
			first.Session.ID, first.Session.FamilyID)
	}
	if !second.RefreshExpiresAt.Equal(f.clock.Now().Add(auth.DefaultRefreshTokenTTL)) {
		t.Fatalf("refresh tokens slide: successor expires %v", second.RefreshExpiresAt)
	}
	if again := f.refresh(t, first.RefreshToken); again.Token != second.Token || again.RefreshToken != second.RefreshToken {
		t.Fatal("a replay inside the grace window answered another pair")
	}
	f.wantAuth(t, "the successor access token", second.Token, true)
	f.wantAuth(t, "the first access token, until it expires", first.Token, true)
	f.clock.Advance(time.Minute)
	f.wantAuth(t, "the first access token after 15 minutes", first.Token, false)

	// The grace window (10s) closed a minute ago: the rotated token is now a reuse.
	f.wantRefreshCode(t, "the rotated token after the window", first.RefreshToken, auth.CodeRefreshTokenReused)
}

func TestConcurrentRefreshesGetOnePair(t *testing.T) {
	f := newFixture(t, fastParams)
	ns := f.loginRefreshable(t)
	const n = 50
	got := make([]*auth.NewSession, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			r, err := f.svc.Refresh(context.Background(), ns.RefreshToken)
			if err != nil {
				t.Errorf("refresh %d: %v", i, err)
				return
			}
			got[i] = r
		})
	}
	close(start)
	wg.Wait()
	for i, r := range got {
		if r == nil {
			continue
		}
		if r.Token != got[0].Token || r.RefreshToken != got[0].RefreshToken || r.Session.ID != got[0].Session.ID ||
			!r.RefreshExpiresAt.Equal(got[0].RefreshExpiresAt) || !r.Session.ExpiresAt.Equal(got[0].Session.ExpiresAt) {
			t.Fatalf("refresh %d answered another pair than refresh 0", i)
		}
	}
	// A late replay inside the window still gets the pair.
	f.clock.Advance(auth.DefaultRefreshGrace - time.Millisecond)
	if r := f.refresh(t, ns.RefreshToken); r.Token != got[0].Token || r.RefreshToken != got[0].RefreshToken {
		t.Fatal("a replay at the end of the window answered another pair")
	}
	// The pair works, and rotates normally.
	f.wantAuth(t, "the shared successor", got[0].Token, true)
	f.refresh(t, got[0].RefreshToken)
}

func TestReuseAfterGraceRevokesTheFamily(t *testing.T) {
	f := newFixture(t, fastParams)
	other := f.loginRefreshable(t) // another sign-in of the same user: untouched
	first := f.loginRefreshable(t)
	second := f.refresh(t, first.RefreshToken)
	third := f.refresh(t, second.RefreshToken)
	f.clock.Advance(auth.DefaultRefreshGrace)

	f.wantRefreshCode(t, "a reuse after the window", first.RefreshToken, auth.CodeRefreshTokenReused)
	f.wantRefreshCode(t, "the current refresh token of the revoked family", third.RefreshToken, auth.CodeInvalidCredentials)
	f.wantRefreshCode(t, "the reused token again", first.RefreshToken, auth.CodeInvalidCredentials)
	for i, ns := range []*auth.NewSession{first, second, third} {
		f.wantAuth(t, "access token "+string(rune('1'+i))+" of the revoked family", ns.Token, false)
	}
	f.wantAuth(t, "another sign-in's access token", other.Token, true)
	f.refresh(t, other.RefreshToken)
}

func TestTokenKindsDoNotCross(t *testing.T) {
	f := newFixture(t, fastParams)
	ns := f.loginRefreshable(t)
	f.wantAuth(t, "a refresh token as an access token", ns.RefreshToken, false)
	f.wantRefreshCode(t, "an access token as a refresh token", ns.Token, auth.CodeInvalidCredentials)
	unknown, _ := token.New(token.Refresh)
	// Change the last character to one it is not (a fixed "x" is the same token 1 time in 62).
	mangled := ns.RefreshToken[:len(ns.RefreshToken)-1] + "x"
	if mangled == ns.RefreshToken {
		mangled = mangled[:len(mangled)-1] + "y"
	}
	for _, tok := range []string{"", "garbage", unknown, mangled} {
		f.wantRefreshCode(t, "a bad refresh token", tok, auth.CodeInvalidCredentials)
	}
	f.refresh(t, ns.RefreshToken) // none of that harmed the family
}

func TestRefreshTokenExpires(t *testing.T) {
	f := newFixture(t, fastParams)
	ns := f.loginRefreshable(t)
	f.clock.Advance(auth.DefaultRefreshTokenTTL - time.Second)
	next := f.refresh(t, ns.RefreshToken)
	f.clock.Advance(auth.DefaultRefreshTokenTTL)
	f.wantRefreshCode(t, "an expired refresh token", next.RefreshToken, auth.CodeInvalidCredentials)
}

func TestLogoutEndsTheFamily(t *testing.T) {
	f := newFixture(t, fastParams)
	ctx := context.Background()
	ns := f.loginRefreshable(t)
	next := f.refresh(t, ns.RefreshToken)
	p, err := f.svc.Authenticate(ctx, next.Token)
	if err != nil {
		t.Fatal(err)
	}
	ended, err := f.svc.DeleteSession(auth.WithPrincipal(ctx, p), nil)
	if err != nil || ended.Token != next.Token || ended.Session.ID != next.Session.ID {
		t.Fatalf("logout: %+v, %v", ended, err)
	}
	f.wantRefreshCode(t, "the refresh token after logout", next.RefreshToken, auth.CodeInvalidCredentials)
	f.wantAuth(t, "the earlier access token of the family", ns.Token, false)

	// Ending a refreshable session by id, from another session, ends its family too.
	a := f.loginRefreshable(t)
	admin := f.as(t, "admin", "admin-password")
	id := a.Session.ID
	if _, err := f.svc.DeleteSession(admin, &id); err != nil {
		t.Fatal(err)
	}
	f.wantRefreshCode(t, "the refresh token of a session ended by id", a.RefreshToken, auth.CodeInvalidCredentials)
	if _, err := f.svc.DeleteSession(admin, &id); code(err) != auth.CodeNotFound {
		t.Fatalf("second delete: %v", err)
	}
}

func TestDeletingTheKeyEndsItsFamilies(t *testing.T) {
	f := newFixture(t, fastParams)
	ctx := context.Background()
	admin := f.as(t, "admin", "admin-password")
	nk, err := f.svc.CreateUserKey(admin, "ci", nil)
	if err != nil {
		t.Fatal(err)
	}
	live, err := f.svc.LoginUserKey(ctx, nk.Key.ID, nk.Secret, "", auth.Refreshable(true))
	if err != nil || live.Session.Method != auth.MethodUserKey {
		t.Fatalf("%+v, %v", live, err)
	}
	idle, err := f.svc.LoginUserKey(ctx, nk.Key.ID, nk.Secret, "", auth.Refreshable(true))
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(20 * time.Minute) // idle's access session has expired: only its refresh token is left
	live = f.refresh(t, live.RefreshToken)
	if _, err := f.svc.DeleteUserKey(admin, nk.Key.ID); err != nil {
		t.Fatal(err)
	}
	f.wantAuth(t, "an access token made from the deleted key", live.Token, false)
	f.wantRefreshCode(t, "a refresh token made from the deleted key", live.RefreshToken, auth.CodeInvalidCredentials)
	f.wantRefreshCode(t, "an idle refresh token made from the deleted key", idle.RefreshToken, auth.CodeInvalidCredentials)
}

func TestRefreshWithAnExpiredKey(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	until := f.clock.Now().Add(time.Hour)
	nk, err := f.svc.CreateUserKey(admin, "ci", &until)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := f.svc.LoginUserKey(context.Background(), nk.Key.ID, nk.Secret, "", auth.Refreshable(true))
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	f.wantRefreshCode(t, "a refresh past the key's expiry", ns.RefreshToken, auth.CodeInvalidCredentials)
}
