package auth_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/authgraph/authgraph/internal/auth"
)

// principal authenticates tok and answers a context carrying its principal, as a request
// would: the user is read afresh.
func (f *fixture) principal(t *testing.T, tok string) (context.Context, error) {
	t.Helper()
	p, err := f.svc.Authenticate(context.Background(), tok)
	if err != nil {
		return nil, err
	}
	return auth.WithPrincipal(context.Background(), p), nil
}

func TestSetUserRoleRules(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	bob, err := f.svc.CreateUser(admin, "bob", "bob-password", "")
	if err != nil {
		t.Fatal(err)
	}
	member := f.as(t, "bob", "bob-password")
	if _, err := f.svc.SetUserRole(member, bob.ID, auth.RoleAdmin); code(err) != auth.CodeForbidden {
		t.Fatalf("a member promoting themselves: %v", err)
	}
	if _, err := f.svc.SetUserRole(admin, bob.ID, "OWNER"); code(err) != auth.CodeInvalidInput {
		t.Fatalf("unknown role: %v", err)
	}
	if _, err := f.svc.SetUserRole(admin, bob.ID+100, auth.RoleAdmin); code(err) != auth.CodeNotFound {
		t.Fatalf("unknown user: %v", err)
	}
	self := auth.PrincipalFrom(admin).User.ID
	if _, err := f.svc.SetUserRole(admin, self, auth.RoleMember); code(err) != auth.CodeInvalidInput {
		t.Fatalf("an admin demoting themselves (the last admin): %v", err)
	}
	if u, err := f.svc.User(admin, self); err != nil || u.Role != auth.RoleAdmin {
		t.Fatalf("the admin's role after a refused self-demotion: %+v, %v", u, err)
	}
	u, err := f.svc.SetUserRole(admin, bob.ID, auth.RoleAdmin)
	if err != nil || u.Role != auth.RoleAdmin {
		t.Fatalf("promote: %+v, %v", u, err)
	}
	// The promotion ended nothing: bob's session, read again, is an admin's.
	if _, err := f.svc.ListUsers(f.as(t, "bob", "bob-password"), auth.PageRequest{}); err != nil {
		t.Fatalf("promoted bob listing users: %v", err)
	}
}

// A demoted admin loses the admin operations on their very next request, through every
// session they hold, those made from a key holding the admin scope included; nothing of
// theirs is ended.
func TestDemotionTakesEffectOnTheNextRequest(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	carol, err := f.svc.CreateUser(admin, "carol", "carol-password", auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := f.svc.LoginPassword(context.Background(), "carol", "carol-password", "")
	if err != nil {
		t.Fatal(err)
	}
	carolCtx, err := f.principal(t, pw.Token)
	if err != nil {
		t.Fatal(err)
	}
	nk, err := f.svc.CreateUserKey(carolCtx, "ops", nil, auth.ScopeRead, auth.ScopeAdmin)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := f.svc.LoginUserKey(context.Background(), nk.Key.ID, nk.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{pw.Token, ks.Token} {
		ctx, err := f.principal(t, tok)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.ListUsers(ctx, auth.PageRequest{}); err != nil {
			t.Fatalf("carol as admin: %v", err)
		}
	}

	if _, err := f.svc.SetUserRole(admin, carol.ID, auth.RoleMember); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"password": pw.Token, "key": ks.Token} {
		ctx, err := f.principal(t, tok)
		if err != nil {
			t.Fatalf("carol's %s session ended by the demotion: %v", name, err)
		}
		if !auth.PrincipalFrom(ctx).HasScope(auth.ScopeAdmin) && name == "key" {
			t.Fatalf("the key session should still hold the admin scope: the role is what stops it")
		}
		if _, err := f.svc.ListUsers(ctx, auth.PageRequest{}); code(err) != auth.CodeForbidden {
			t.Errorf("demoted carol's %s session listing users: %v, want FORBIDDEN", name, err)
		}
		if _, err := f.svc.SetUserRole(ctx, auth.PrincipalFrom(admin).User.ID, auth.RoleMember); code(err) != auth.CodeForbidden {
			t.Errorf("demoted carol's %s session demoting the admin: %v, want FORBIDDEN", name, err)
		}
	}
}

func TestRenameUser(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	dave, err := f.svc.CreateUser(admin, "dave", "dave-password", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateUser(admin, "erin", "erin-password", ""); err != nil {
		t.Fatal(err)
	}
	daveCtx := f.as(t, "dave", "dave-password")
	if _, err := f.svc.RenameUser(daveCtx, dave.ID, "david"); code(err) != auth.CodeForbidden {
		t.Fatalf("a member renaming themselves: %v", err)
	}
	for _, bad := range []string{"", " padded", "a\nb", string(make([]byte, 200))} {
		if _, err := f.svc.RenameUser(admin, dave.ID, bad); code(err) != auth.CodeInvalidInput {
			t.Errorf("rename to %q: %v, want BAD_USER_INPUT", bad, err)
		}
	}
	if _, err := f.svc.RenameUser(admin, dave.ID, "erin"); code(err) != auth.CodeConflict {
		t.Fatalf("rename to a taken name: %v", err)
	}
	if _, err := f.svc.RenameUser(admin, dave.ID+100, "nobody"); code(err) != auth.CodeNotFound {
		t.Fatalf("rename of an unknown user: %v", err)
	}
	u, err := f.svc.RenameUser(admin, dave.ID, "david")
	if err != nil || u.Username != "david" {
		t.Fatalf("rename: %+v, %v", u, err)
	}
	// Sessions go on; sign-in takes the new name only.
	if _, err := f.svc.Me(daveCtx); err != nil {
		t.Errorf("dave's session after the rename: %v", err)
	}
	if _, err := f.svc.LoginPassword(context.Background(), "dave", "dave-password", ""); code(err) != auth.CodeInvalidCredentials {
		t.Errorf("sign-in with the old name: %v", err)
	}
	f.as(t, "david", "dave-password")
}

func TestRenameRaceOneWins(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	var ids []int64
	for i := range 8 {
		u, err := f.svc.CreateUser(admin, fmt.Sprintf("racer%d", i), "racer-password-long", "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	var wg sync.WaitGroup
	codes := make([]auth.Code, len(ids))
	for i, id := range ids {
		wg.Go(func() {
			_, err := f.svc.RenameUser(admin, id, "prize")
			codes[i] = code(err)
		})
	}
	wg.Wait()
	wins := 0
	for _, c := range codes {
		switch c {
		case "":
			wins++
		case auth.CodeConflict:
		default:
			t.Errorf("a losing rename answered %q, want CONFLICT", c)
		}
	}
	if wins != 1 {
		t.Fatalf("%d renames to one name succeeded, want 1", wins)
	}
}

func TestSetUserEmail(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	gus, err := f.svc.CreateUser(admin, "gus", "gus-password", "")
	if err != nil {
		t.Fatal(err)
	}
	hal, err := f.svc.CreateUser(admin, "hal", "hal-password", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetUserEmail(f.as(t, "gus", "gus-password"), gus.ID, "gus@example.com"); code(err) != auth.CodeForbidden {
		t.Fatalf("a member setting an email: %v", err)
	}
	for _, bad := range []string{"not-an-address", "a@b.com\r\nBcc: x@y.com", "gus@exаmple.com"} {
		if _, err := f.svc.SetUserEmail(admin, gus.ID, bad); code(err) != auth.CodeInvalidInput {
			t.Errorf("email %q: %v, want BAD_USER_INPUT", bad, err)
		}
	}
	u, err := f.svc.SetUserEmail(admin, gus.ID, "  Gus@Example.COM ")
	if err != nil || u.Email != "gus@example.com" || u.EmailVerified {
		t.Fatalf("set email: %+v, %v; want normalized and unverified", u, err)
	}
	if _, err := f.svc.SetUserEmail(admin, hal.ID, "GUS@example.com"); code(err) != auth.CodeConflict {
		t.Fatalf("another user's address: %v", err)
	}
	if _, err := f.svc.SetUserEmail(admin, hal.ID+100, "x@example.com"); code(err) != auth.CodeNotFound {
		t.Fatalf("unknown user: %v", err)
	}
	u, err = f.svc.SetUserEmail(admin, gus.ID, "")
	if err != nil || u.Email != "" {
		t.Fatalf("remove email: %+v, %v", u, err)
	}
	if _, err := f.svc.SetUserEmail(admin, hal.ID, "gus@example.com"); err != nil {
		t.Fatalf("a removed address is free: %v", err)
	}
}
