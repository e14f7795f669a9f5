package auth_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// The lifecycle rules hold for refreshable sign-ins too: a refresh continues a sign-in, so it
// keeps its time and its key's scopes, and ending sessions ends the refresh tokens behind them.

func (f *lfixture) refreshable(t *testing.T, username, password string) *auth.NewSession {
	t.Helper()
	ns, err := f.svc.LoginPassword(context.Background(), username, password, "", auth.Refreshable(true))
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func (f *lfixture) ctxOf(t *testing.T, accessToken string) context.Context {
	t.Helper()
	p, err := f.svc.Authenticate(context.Background(), accessToken)
	if err != nil {
		t.Fatal(err)
	}
	return auth.WithPrincipal(context.Background(), p)
}

func TestRefreshKeepsTheSignInsTimeAndScopes(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{})
	bg := context.Background()
	alice := f.member(t, "alice")
	signedIn := f.clock.Now()
	ns := f.refreshable(t, "alice", "alice-password")

	f.clock.Advance(20 * time.Minute)
	next, err := f.svc.Refresh(bg, ns.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if !next.Session.AuthenticatedAt.Equal(signedIn) || next.Session.Scopes != nil {
		t.Fatalf("a refreshed password session: authenticatedAt %v (want the sign-in's %v), scopes %v",
			next.Session.AuthenticatedAt, signedIn, next.Session.Scopes)
	}
	// Refreshing is no new proof: 20 minutes after the sign-in, sensitive changes need one.
	err = f.svc.RequireRecentAuthentication(f.ctxOf(t, next.Token))
	wantCode(t, "a refreshed session 20 minutes after its sign-in", err, auth.CodeReauthenticationRequired)

	// A key's refreshable session keeps the key's scopes, and never outlives the key.
	soon := f.clock.Now().Add(time.Hour)
	nk, err := f.svc.CreateUserKey(alice, "", &soon, auth.ScopeRead)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := f.svc.LoginUserKey(bg, nk.Key.ID, nk.Secret, "", auth.Refreshable(true))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ks.Session.Scopes, []auth.Scope{auth.ScopeRead}) {
		t.Fatalf("a key's refreshable session holds %v", ks.Session.Scopes)
	}
	f.clock.Advance(50 * time.Minute)
	kn, err := f.svc.Refresh(bg, ks.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kn.Session.Scopes, []auth.Scope{auth.ScopeRead}) || !kn.Session.ExpiresAt.Equal(soon) {
		t.Fatalf("a refreshed key session: scopes %v, expires %v (want [read], the key's %v)", kn.Session.Scopes, kn.Session.ExpiresAt, soon)
	}
	_, err = f.svc.CreateUserKey(f.ctxOf(t, kn.Token), "", nil)
	wantCode(t, "createUserKey from a refreshed read-only key session", err, auth.CodeForbidden)
}

func TestEndingSessionsEndsTheirRefreshTokens(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{})
	bg := context.Background()
	admin := f.as(t, "admin", "admin-password")
	f.member(t, "alice")
	current := f.refreshable(t, "alice", "alice-password")
	other := f.refreshable(t, "alice", "alice-password")
	f.clock.Advance(30 * time.Minute) // other's access token has lapsed; its refresh token has not

	current, err := f.svc.Refresh(bg, current.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = f.svc.ChangePassword(f.ctxOf(t, current.Token), "alice-password", "a-brand-new-password", true)
	wantCode(t, "changePassword 30 minutes after signing in", err, auth.CodeReauthenticationRequired)
	fresh := f.refreshable(t, "alice", "alice-password")
	if _, _, err := f.svc.ChangePassword(f.ctxOf(t, fresh.Token), "alice-password", "a-brand-new-password", true); err != nil {
		t.Fatal(err)
	}
	for name, ns := range map[string]*auth.NewSession{"an older sign-in": current, "a lapsed sign-in": other} {
		if _, err := f.svc.Refresh(bg, ns.RefreshToken); code(err) != auth.CodeInvalidCredentials {
			t.Errorf("refreshing %s after changePassword: %v, want INVALID_CREDENTIALS", name, err)
		}
	}
	if _, err := f.svc.Refresh(bg, fresh.RefreshToken); err != nil {
		t.Fatalf("refreshing the sign-in that changed the password: %v", err)
	}

	// Disabling ends every sign-in, and a disabled user's refresh token makes no session.
	again := f.refreshable(t, "alice", "a-brand-new-password")
	aliceID := auth.PrincipalFrom(f.ctxOf(t, again.Token)).User.ID
	if _, err := f.svc.SetUserDisabled(admin, aliceID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Refresh(bg, again.RefreshToken); code(err) != auth.CodeInvalidCredentials {
		t.Fatalf("refreshing a disabled user's sign-in: %v", err)
	}
}

func TestIdleTimeoutBoundsRefreshTokens(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{IdleTimeout: 30 * time.Minute, AccessTokenTTL: 15 * time.Minute})
	f.member(t, "alice")
	ns := f.refreshable(t, "alice", "alice-password")
	if want := f.clock.Now().Add(46 * time.Minute); !ns.RefreshExpiresAt.Equal(want) {
		t.Fatalf("refresh token expires %v, want %v (access 15m + idle 30m + 1m)", ns.RefreshExpiresAt, want)
	}
	f.clock.Advance(46 * time.Minute)
	if _, err := f.svc.Refresh(context.Background(), ns.RefreshToken); code(err) != auth.CodeInvalidCredentials {
		t.Fatalf("refreshing a sign-in idle for 46 minutes: %v", err)
	}
}
