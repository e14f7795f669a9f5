package auth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/authgraph/authgraph/internal/auth"
)

func TestCreateAccountRules(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	if _, err := f.svc.CreateUser(admin, "gina", "gina-password", ""); err != nil {
		t.Fatal(err)
	}
	gina := f.as(t, "gina", "gina-password")
	tests := []struct {
		name       string
		ctx        context.Context
		slug, full string
		want       auth.Code
	}{
		{"anonymous", context.Background(), "acme", "Acme", auth.CodeUnauthenticated},
		{"a member", gina, "acme", "Acme", auth.CodeForbidden},
		{"one letter", admin, "a", "A", ""},
		{"letters digits hyphens", admin, "acme-2-corp", "Acme 2 ✓", ""},
		{"63 characters", admin, strings.Repeat("x", 63), "X", ""},
		{"taken", admin, "a", "Another", auth.CodeConflict},
		{"the default account's slug", admin, "default", "Mine", auth.CodeConflict},
		{"empty slug", admin, "", "E", auth.CodeInvalidInput},
		{"64 characters", admin, strings.Repeat("x", 64), "X", auth.CodeInvalidInput},
		{"upper case", admin, "Acme", "A", auth.CodeInvalidInput},
		{"underscore", admin, "ac_me", "A", auth.CodeInvalidInput},
		{"dot", admin, "ac.me", "A", auth.CodeInvalidInput},
		{"space", admin, "ac me", "A", auth.CodeInvalidInput},
		{"non-ASCII", admin, "äcme", "A", auth.CodeInvalidInput},
		{"leading hyphen", admin, "-acme", "A", auth.CodeInvalidInput},
		{"trailing hyphen", admin, "acme-", "A", auth.CodeInvalidInput},
		{"empty name", admin, "named", "", auth.CodeInvalidInput},
		{"blank name", admin, "named", "   ", auth.CodeInvalidInput},
		{"name with spaces around", admin, "named", " Acme", auth.CodeInvalidInput},
		{"name too long", admin, "named", strings.Repeat("n", 101), auth.CodeInvalidInput},
		{"name with a control character", admin, "named", "Ac\x00me", auth.CodeInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := f.svc.CreateAccount(tt.ctx, tt.slug, tt.full)
			if code(err) != tt.want {
				t.Fatalf("code %q, want %q (%v)", code(err), tt.want, err)
			}
			if err == nil && (a.ID < 1 || a.Slug != tt.slug || a.Name != tt.full) {
				t.Fatalf("account %+v", a)
			}
		})
	}
}

func TestDefaultAccountExistsFromTheStart(t *testing.T) {
	f := newFixture(t, fastParams) // bootstraps the admin, as the server does
	def, err := f.store.AccountBySlug(context.Background(), auth.DefaultAccountSlug)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.svc.EnsureDefaultAccount(context.Background())
	if err != nil || again.ID != def.ID {
		t.Fatalf("EnsureDefaultAccount made another: %+v %v", again, err)
	}
	admin := f.as(t, "admin", "admin-password")
	me, _ := f.svc.Me(admin)
	if me.AccountID != def.ID {
		t.Fatalf("the bootstrap admin is in account %d, want the default %d", me.AccountID, def.ID)
	}
	u, err := f.svc.CreateUser(admin, "hank", "hank-password", "")
	if err != nil || u.AccountID != def.ID {
		t.Fatalf("a user made without an account: %+v %v", u, err)
	}
}

// The same username in two accounts: each signs in with its own password when the account is
// named. Every failure, whatever its cause, answers the same error after exactly one argon2
// verify (a real one or a dummy), so logins reveal neither accounts nor usernames.
func TestLoginAcrossAccounts(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	bg := context.Background()
	acme, err := f.svc.CreateAccount(admin, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	globex, err := f.svc.CreateAccount(admin, "globex", "Globex")
	if err != nil {
		t.Fatal(err)
	}
	acmeBob, err := f.svc.CreateUserInAccount(admin, "acme", "bob", "acme-bob-password", "")
	if err != nil {
		t.Fatal(err)
	}
	globexBob, err := f.svc.CreateUserInAccount(admin, "globex", "bob", "globex-bob-password", "")
	if err != nil {
		t.Fatal(err)
	}
	if acmeBob.AccountID != acme.ID || globexBob.AccountID != globex.ID || acmeBob.ID == globexBob.ID {
		t.Fatalf("users %+v %+v", acmeBob, globexBob)
	}
	if _, err := f.svc.CreateUserInAccount(admin, "acme", "carol", "acme-carol-password", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateUserInAccount(admin, "acme", "bob", "again-password", ""); code(err) != auth.CodeConflict {
		t.Fatalf("a username taken in its account: %v", err)
	}
	if _, err := f.svc.CreateUserInAccount(admin, "initech", "bob", "bob-password", ""); code(err) != auth.CodeNotFound {
		t.Fatalf("a user in an unknown account: %v", err)
	}
	if _, err := f.svc.CreateUserInAccount(admin, "Acme", "bob", "bob-password", ""); code(err) != auth.CodeInvalidInput {
		t.Fatalf("a user in a malformed account: %v", err)
	}

	login := func(t *testing.T, account, username, password string) (int64, error) {
		t.Helper()
		verifies, dummies := f.hasher.verifies.Load(), f.hasher.dummies.Load()
		ns, err := f.svc.Login(bg, auth.PasswordLogin{Account: account, Username: username, Password: password})
		work := f.hasher.verifies.Load() - verifies + f.hasher.dummies.Load() - dummies
		if code(err) != auth.CodeInvalidInput && work != 1 {
			t.Errorf("login did %d argon2 verifies, want exactly 1", work)
		}
		if err != nil {
			if code(err) == auth.CodeInvalidCredentials && err.Error() != (&auth.Error{Code: auth.CodeInvalidCredentials, Message: auth.MsgInvalidCredentials}).Error() {
				t.Errorf("message differs between failures: %v", err)
			}
			return 0, err
		}
		return ns.Session.UserID, nil
	}
	tests := []struct {
		name, account, user, pass string
		want                      auth.Code
		wantUser                  int64
	}{
		{"acme's bob in acme", "acme", "bob", "acme-bob-password", "", acmeBob.ID},
		{"globex's bob in globex", "globex", "bob", "globex-bob-password", "", globexBob.ID},
		{"acme's password in globex", "globex", "bob", "acme-bob-password", auth.CodeInvalidCredentials, 0},
		{"an unknown account", "initech", "bob", "acme-bob-password", auth.CodeInvalidCredentials, 0},
		{"a user of another account", "globex", "carol", "acme-carol-password", auth.CodeInvalidCredentials, 0},
		{"a malformed account", "ACME", "bob", "acme-bob-password", auth.CodeInvalidInput, 0},
		{"bob in two accounts, none named", "", "bob", "acme-bob-password", auth.CodeInvalidCredentials, 0},
		{"carol in one account, none named", "", "carol", "acme-carol-password", "", 0},
		{"the admin, no account named", "", "admin", "admin-password", "", 1},
		{"the admin in the default account", "default", "admin", "admin-password", "", 1},
		{"the admin in acme", "acme", "admin", "admin-password", auth.CodeInvalidCredentials, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uid, err := login(t, tt.account, tt.user, tt.pass)
			if code(err) != tt.want {
				t.Fatalf("code %q, want %q (%v)", code(err), tt.want, err)
			}
			if tt.wantUser != 0 && uid != tt.wantUser {
				t.Fatalf("signed in as user %d, want %d", uid, tt.wantUser)
			}
		})
	}

	// A bob in the default account too: a login that names no account goes there, so clients
	// that never mention accounts keep working whatever names tenants use.
	defaultBob, err := f.svc.CreateUser(admin, "bob", "default-bob-password", "")
	if err != nil {
		t.Fatal(err)
	}
	if uid, err := login(t, "", "bob", "default-bob-password"); err != nil || uid != defaultBob.ID {
		t.Fatalf("default bob without an account: user %d, %v", uid, err)
	}
	if _, err := login(t, "", "bob", "acme-bob-password"); code(err) != auth.CodeInvalidCredentials {
		t.Fatalf("acme bob's password without an account: %v", err)
	}
	if uid, err := login(t, "acme", "bob", "acme-bob-password"); err != nil || uid != acmeBob.ID {
		t.Fatalf("acme bob with his account: user %d, %v", uid, err)
	}
}

func TestAccountVisibility(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	acme, _ := f.svc.CreateAccount(admin, "acme", "Acme")
	globex, _ := f.svc.CreateAccount(admin, "globex", "Globex")
	if _, err := f.svc.CreateUserInAccount(admin, "acme", "ivy", "ivy-password", ""); err != nil {
		t.Fatal(err)
	}
	ivy := f.as(t, "ivy", "ivy-password")
	if a, err := f.svc.Account(ivy, acme.ID); err != nil || a.Slug != "acme" {
		t.Fatalf("ivy's own account: %+v %v", a, err)
	}
	if _, err := f.svc.Account(ivy, globex.ID); code(err) != auth.CodeNotFound {
		t.Fatalf("another account: %v, want NOT_FOUND", err)
	}
	if a, err := f.svc.Account(admin, globex.ID); err != nil || a.Slug != "globex" {
		t.Fatalf("an admin reads any account: %+v %v", a, err)
	}
	if _, err := f.svc.Account(admin, 4242); code(err) != auth.CodeNotFound {
		t.Fatalf("an unknown account: %v", err)
	}
	if _, err := f.svc.Account(context.Background(), acme.ID); code(err) != auth.CodeUnauthenticated {
		t.Fatalf("anonymous: %v", err)
	}
}
