package auth_test

import (
	"context"
	"testing"

	"github.com/authgraph/authgraph/internal/auth"
)

// An account admin manages the users of their own account and nobody else: every other user
// is NOT_FOUND, as someone else's id is to a member, and no role above their own is given.
func TestAccountAdminManagesOnlyTheirAccount(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	if _, err := f.svc.CreateAccount(admin, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateAccount(admin, "globex", "Globex"); err != nil {
		t.Fatal(err)
	}
	mk := func(slug, name string, role auth.Role) *auth.User {
		t.Helper()
		u, err := f.svc.CreateUserInAccount(admin, slug, name, name+"-long-password", role)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	mk("acme", "boss", auth.RoleAccountAdmin)
	peer := mk("acme", "worker", auth.RoleMember)
	acmeAdmin := mk("acme", "platform", auth.RoleAdmin)
	outsider := mk("globex", "stranger", auth.RoleMember)
	ns, err := f.svc.Login(context.Background(), auth.PasswordLogin{Account: "acme", Username: "boss", Password: "boss-long-password"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.Authenticate(context.Background(), ns.Token)
	if err != nil {
		t.Fatal(err)
	}
	boss := auth.WithPrincipal(context.Background(), p)

	// Every user-management operation, on a user the account admin may manage and on two
	// they may not.
	ops := map[string]func(id int64) error{
		"User":        func(id int64) error { _, err := f.svc.User(boss, id); return err },
		"Disable":     func(id int64) error { _, err := f.svc.SetUserDisabled(boss, id, true); return err },
		"Enable":      func(id int64) error { _, err := f.svc.SetUserDisabled(boss, id, false); return err },
		"EndSessions": func(id int64) error { _, err := f.svc.DeleteSessionsOfUser(boss, id); return err },
		"Rename": func(id int64) error {
			_, err := f.svc.RenameUser(boss, id, "renamed-"+string(rune('a'+id%26)))
			return err
		},
		"SetEmail": func(id int64) error { _, err := f.svc.SetUserEmail(boss, id, ""); return err },
		"SetRole":  func(id int64) error { _, err := f.svc.SetUserRole(boss, id, auth.RoleMember); return err },
	}
	for name, op := range ops {
		for _, target := range []*auth.User{outsider, acmeAdmin} {
			if err := op(target.ID); code(err) != auth.CodeNotFound {
				t.Errorf("%s on %s: %v, want NOT_FOUND", name, target.Username, err)
			}
		}
		if err := op(peer.ID); err != nil {
			t.Errorf("%s on a member of their account: %v", name, err)
		}
	}
	if _, err := f.svc.DeleteUser(boss, outsider.ID); code(err) != auth.CodeNotFound {
		t.Errorf("DeleteUser of another account's user: %v", err)
	}
	// No role above their own, to anyone.
	if _, err := f.svc.SetUserRole(boss, peer.ID, auth.RoleAdmin); code(err) != auth.CodeForbidden {
		t.Errorf("granting ADMIN: %v", err)
	}
	if _, err := f.svc.CreateUserInAccount(boss, "", "newadmin", "newadmin-long-password", auth.RoleAdmin); code(err) != auth.CodeForbidden {
		t.Errorf("creating an ADMIN: %v", err)
	}
	// Users they make go to their own account; another account is not found.
	u, err := f.svc.CreateUserInAccount(boss, "", "hire", "hire-long-password", "")
	if err != nil || u.AccountID != p.User.AccountID {
		t.Fatalf("a user made by an account admin: %+v, %v", u, err)
	}
	if _, err := f.svc.CreateUserInAccount(boss, "globex", "spy", "spy-long-password", ""); code(err) != auth.CodeNotFound {
		t.Errorf("creating a user in another account: %v", err)
	}
	// Accounts stay with ADMINs, and so do other users' keys.
	if _, err := f.svc.CreateAccount(boss, "initech", "Initech"); code(err) != auth.CodeForbidden {
		t.Errorf("CreateAccount: %v", err)
	}
	if _, err := f.svc.UserKeys(boss, peer.ID); err == nil {
		t.Error("an account admin read another user's keys")
	}
	if _, err := f.svc.DeleteUser(boss, peer.ID); err != nil {
		t.Errorf("deleting a member of their account: %v", err)
	}
}

// Promoting an account admin to ADMIN revokes their keys that hold the admin scope (and the
// sessions made from them): a key made to manage one account never becomes a platform admin
// credential. Their other keys stay.
func TestPromotingAnAccountAdminRevokesTheirAdminKeys(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	boss, err := f.svc.CreateUser(admin, "boss", "boss-long-password", auth.RoleAccountAdmin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := f.as(t, "boss", "boss-long-password")
	wide, err := f.svc.CreateUserKey(ctx, "ops", nil)
	if err != nil {
		t.Fatal(err)
	}
	narrow, err := f.svc.CreateUserKey(ctx, "reader", nil, auth.ScopeRead)
	if err != nil {
		t.Fatal(err)
	}
	keySession, err := f.svc.LoginUserKey(context.Background(), wide.Key.ID, wide.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetUserRole(admin, boss.ID, auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.LoginUserKey(context.Background(), wide.Key.ID, wide.Secret, ""); code(err) != auth.CodeInvalidCredentials {
		t.Fatalf("the account admin's admin key after the promotion: %v", err)
	}
	if _, err := f.svc.Authenticate(context.Background(), keySession.Token); code(err) != auth.CodeUnauthenticated {
		t.Fatalf("a session of that key after the promotion: %v", err)
	}
	if _, err := f.svc.LoginUserKey(context.Background(), narrow.Key.ID, narrow.Secret, ""); err != nil {
		t.Fatalf("a key without admin after the promotion: %v", err)
	}
}

// An admin's change of a user's address is told to the old address.
func TestSetUserEmailNoticesTheOldAddress(t *testing.T) {
	out := &outbox{}
	f, _ := mfaFixture(t, auth.Config{Mailer: out})
	admin := f.as(t, "admin", "admin-password")
	dave, err := f.svc.User(admin, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetUserEmail(admin, dave.ID, "dave@example.com"); err != nil {
		t.Fatal(err)
	}
	if n := len(out.all()); n != 0 {
		t.Fatalf("%d mails for a first address", n)
	}
	if _, err := f.svc.SetUserEmail(admin, dave.ID, "elsewhere@example.com"); err != nil {
		t.Fatal(err)
	}
	mails := out.all()
	if len(mails) != 1 || mails[0].To != "dave@example.com" || mails[0].Kind != auth.MailEmailChanged {
		t.Fatalf("mails %+v, want a notice to the old address", mails)
	}
}
