package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// TestIntrospectWritesNothing: Introspect answers what Authenticate answers, but never
// touches a session's lastUsedAt (so asking about a token does not keep it alive) and never
// deletes an idle session.
func TestIntrospectWritesNothing(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{IdleTimeout: 30 * time.Minute})
	bg := context.Background()
	alice := f.member(t, "alice")
	tok := tokenOf(alice)
	touches := f.counter.touches.Load()

	f.clock.Advance(20 * time.Minute)
	p, err := f.svc.Introspect(bg, tok)
	if err != nil || p.User.Username != "alice" || p.Session == nil {
		t.Fatalf("a live session: %+v, %v", p, err)
	}
	if n := f.counter.touches.Load(); n != touches {
		t.Fatalf("Introspect touched the session (%d touches)", n-touches)
	}
	// 40 minutes unused (Introspect did not count as a use): idle, refused, but still there.
	f.clock.Advance(20*time.Minute + auth.LastUsedPrecision)
	if _, err := f.svc.Introspect(bg, tok); code(err) != auth.CodeUnauthenticated {
		t.Fatalf("an idle session: %v", err)
	}
	sessions, err := f.store.SessionsOf(bg, p.User.ID)
	if err != nil || len(sessions) != 1 {
		t.Fatalf("Introspect deleted the idle session: %d sessions, %v", len(sessions), err)
	}
	if _, err := f.svc.Introspect(bg, "not-a-token"); code(err) != auth.CodeUnauthenticated {
		t.Fatalf("a malformed token: %v", err)
	}
}

// TestHeldScopes: a sign-in's scopes are spelled out by role; a key's are its own.
func TestHeldScopes(t *testing.T) {
	signIn := &auth.Session{}
	if got := auth.HeldScopes(signIn, auth.RoleMember); len(got) != 4 || got[3] != auth.ScopeAccountWrite {
		t.Errorf("member sign-in: %v", got)
	}
	if got := auth.HeldScopes(signIn, auth.RoleAdmin); len(got) != 5 || got[4] != auth.ScopeAdmin {
		t.Errorf("admin sign-in: %v", got)
	}
	key := &auth.Session{Scopes: []auth.Scope{auth.ScopeSessionsWrite, auth.ScopeRead}}
	if got := auth.HeldScopes(key, auth.RoleAdmin); len(got) != 2 || got[0] != auth.ScopeRead {
		t.Errorf("key session: %v", got)
	}
	if len(key.Scopes) != 2 || key.Scopes[0] != auth.ScopeSessionsWrite {
		t.Error("HeldScopes reordered the session's own list")
	}
}
