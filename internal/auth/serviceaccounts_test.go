package auth_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/auth"
)

// serviceFixture: the admin, an account "acme" with an account admin, a service account of
// acme holding read and admin, and contexts of two of its keys (read; read+admin).
type serviceFixture struct {
	*lfixture
	admin, acmeAdmin  context.Context
	acme, other       *auth.Account
	sa                *auth.ServiceAccount
	readKey, adminKey context.Context
	readSecret        string
}

func newServiceFixture(t *testing.T) *serviceFixture {
	t.Helper()
	return newServiceFixtureWith(t, auth.Config{})
}

func newServiceFixtureWith(t *testing.T, cfg auth.Config) *serviceFixture {
	t.Helper()
	f := &serviceFixture{lfixture: newLifecycleFixture(t, cfg)}
	f.admin = f.as(t, "admin", "admin-password")
	var err error
	if f.acme, err = f.svc.CreateAccount(f.admin, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	if f.other, err = f.svc.CreateAccount(f.admin, "other", "Other"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateUserInAccount(f.admin, "acme", "boss", "boss-password-long", auth.RoleAccountAdmin); err != nil {
		t.Fatal(err)
	}
	f.acmeAdmin = f.loginIn(t, "acme", "boss", "boss-password-long")
	if f.sa, err = f.svc.CreateServiceAccount(f.acmeAdmin, f.acme.ID, "bot", nil); err != nil {
		t.Fatal(err)
	}
	f.readKey, f.readSecret = f.serviceKey(t, f.sa.ID, auth.ScopeRead)
	f.adminKey, _ = f.serviceKey(t, f.sa.ID, auth.ScopeRead, auth.ScopeAdmin)
	return f
}

func (f *serviceFixture) loginIn(t *testing.T, account, user, pass string) context.Context {
	t.Helper()
	ns, err := f.svc.Login(context.Background(), auth.PasswordLogin{Account: account, Username: user, Password: pass})
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.Authenticate(context.Background(), ns.Token)
	if err != nil {
		t.Fatal(err)
	}
	return auth.WithPrincipal(context.Background(), p)
}

// serviceKey makes a key and answers a context authenticated by it, as x-api-key would.
func (f *serviceFixture) serviceKey(t *testing.T, saID int64, scopes ...auth.Scope) (context.Context, string) {
	t.Helper()
	nk, err := f.svc.CreateServiceKey(f.admin, saID, "k", scopes, nil, auth.ServiceKeyLimits{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.AuthenticateServiceKey(context.Background(), nk.Secret)
	if err != nil {
		t.Fatal(err)
	}
	return auth.WithPrincipal(context.Background(), p), nk.Secret
}

func TestServiceAccountRights(t *testing.T) {
	f := newServiceFixture(t)
	if !slices.Equal(f.sa.Scopes, []auth.Scope{auth.ScopeRead, auth.ScopeAdmin}) {
		t.Fatalf("a service account made without scopes holds %v", f.sa.Scopes)
	}
	// An account admin manages their own account's service accounts only.
	_, err := f.svc.CreateServiceAccount(f.acmeAdmin, f.other.ID, "x", nil)
	wantCode(t, "an account admin in another account", err, auth.CodeNotFound)
	if _, err := f.svc.CreateServiceAccount(f.admin, f.other.ID, "x", nil); err != nil {
		t.Fatalf("an admin in any account: %v", err)
	}
	alice := f.member(t, "alice")
	_, err = f.svc.CreateServiceAccount(alice, 1, "x", nil)
	wantCode(t, "a member", err, auth.CodeForbidden)
	_, err = f.svc.CreateServiceAccount(f.acmeAdmin, f.acme.ID, "x", []auth.Scope{auth.ScopeKeysWrite})
	wantCode(t, "a person's scope", err, auth.CodeInvalidInput)

	// No session obtains or controls a credential wider than itself.
	narrow := f.keySession(t, f.acmeAdmin, auth.ScopeAdmin) // admin only, no read
	_, err = f.svc.CreateServiceAccount(narrow, f.acme.ID, "x", []auth.Scope{auth.ScopeRead})
	wantCode(t, "a service account with a scope the session lacks", err, auth.CodeForbidden)
	_, err = f.svc.CreateServiceKey(narrow, f.sa.ID, "x", nil, nil, auth.ServiceKeyLimits{})
	wantCode(t, "a key of a service account wider than the session", err, auth.CodeForbidden)
	readID := auth.PrincipalFrom(f.readKey).Service.KeyID
	_, err = f.svc.RerollServiceKey(narrow, readID, 0)
	wantCode(t, "rerolling a key wider than the session", err, auth.CodeForbidden)
	_, err = f.svc.DeleteServiceKey(narrow, readID)
	wantCode(t, "deleting a key wider than the session", err, auth.CodeForbidden)
	_, err = f.svc.CreateServiceKey(f.admin, f.sa.ID, "x", []auth.Scope{auth.ScopeSessionsWrite}, nil, auth.ServiceKeyLimits{})
	wantCode(t, "a key scope outside the service account's", err, auth.CodeInvalidInput)

	// A service key mints nothing, reads its own account only, and is no person.
	for name, ctx := range map[string]context.Context{"read": f.readKey, "admin": f.adminKey} {
		_, err = f.svc.CreateServiceAccount(ctx, f.acme.ID, "x", nil)
		wantCode(t, name+" key making a service account", err, auth.CodeForbidden)
		_, err = f.svc.CreateServiceKey(ctx, f.sa.ID, "x", nil, nil, auth.ServiceKeyLimits{})
		wantCode(t, name+" key making a service key", err, auth.CodeForbidden)
		_, err = f.svc.RerollServiceKey(ctx, readID, 0)
		wantCode(t, name+" key rerolling a service key", err, auth.CodeForbidden)
		_, err = f.svc.DeleteServiceAccount(ctx, f.sa.ID)
		wantCode(t, name+" key deleting its service account", err, auth.CodeForbidden)
		_, err = f.svc.CreateUserKey(ctx, "x", nil)
		wantCode(t, name+" key making a user key", err, auth.CodeForbidden)
		_, err = f.svc.Me(ctx)
		wantCode(t, name+" key asking for me", err, auth.CodeForbidden)
		_, err = f.svc.ListUsers(ctx, auth.PageRequest{})
		wantCode(t, name+" key listing every user", err, auth.CodeForbidden)
		_, err = f.svc.CreateAccount(ctx, "nope", "Nope")
		wantCode(t, name+" key making an account", err, auth.CodeForbidden)
		list, err := f.svc.ServiceAccounts(ctx, f.acme.ID)
		if err != nil || len(list) != 1 {
			t.Fatalf("%s key listing its account's service accounts: %v, %v", name, list, err)
		}
		_, err = f.svc.ServiceAccounts(ctx, f.other.ID)
		wantCode(t, name+" key listing another account", err, auth.CodeNotFound)
	}

	// Disabling the service account refuses its keys; enabling it lets them in again.
	if _, err := f.svc.SetServiceAccountDisabled(f.acmeAdmin, f.sa.ID, true); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.AuthenticateServiceKey(context.Background(), f.readSecret)
	wantCode(t, "a key of a disabled service account", err, auth.CodeUnauthenticated)
	if _, err := f.svc.SetServiceAccountDisabled(f.acmeAdmin, f.sa.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateServiceKey(context.Background(), f.readSecret); err != nil {
		t.Fatalf("after enabling: %v", err)
	}
	// Deleting the account deletes its service accounts and their keys.
	if _, err := f.svc.DeleteAccount(f.admin, f.acme.ID, true); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.AuthenticateServiceKey(context.Background(), f.readSecret)
	wantCode(t, "a key of a deleted account", err, auth.CodeUnauthenticated)
}

func TestServiceKeySecrets(t *testing.T) {
	f := newServiceFixture(t)
	bg := context.Background()
	for _, bad := range []string{"", "agm_x", strings.Replace(f.readSecret, "agm_", "agk_", 1), f.readSecret[:len(f.readSecret)-1] + map[bool]string{true: "1", false: "0"}[strings.HasSuffix(f.readSecret, "0")]} {
		_, err := f.svc.AuthenticateServiceKey(bg, bad)
		wantCode(t, fmt.Sprintf("secret %.12q", bad), err, auth.CodeUnauthenticated)
	}
	soon := f.clock.Now().Add(time.Minute)
	nk, err := f.svc.CreateServiceKey(f.admin, f.sa.ID, "short", nil, &soon, auth.ServiceKeyLimits{})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Minute)
	_, err = f.svc.AuthenticateServiceKey(bg, nk.Secret)
	wantCode(t, "an expired key", err, auth.CodeUnauthenticated)

	id := auth.PrincipalFrom(f.readKey).Service.KeyID
	rr, err := f.svc.RerollServiceKey(f.admin, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{f.readSecret, rr.Secret} {
		if _, err := f.svc.AuthenticateServiceKey(bg, s); err != nil {
			t.Fatalf("during the grace period: %v", err)
		}
	}
	f.clock.Advance(time.Hour)
	_, err = f.svc.AuthenticateServiceKey(bg, f.readSecret)
	wantCode(t, "the old secret after the grace period", err, auth.CodeUnauthenticated)
	if _, err := f.svc.DeleteServiceKey(f.admin, id); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.AuthenticateServiceKey(bg, rr.Secret)
	wantCode(t, "a deleted key", err, auth.CodeUnauthenticated)
	_, err = f.svc.CreateServiceKey(f.admin, f.sa.ID, "x", nil, nil, auth.ServiceKeyLimits{Rate: 5})
	wantCode(t, "a rate without a period", err, auth.CodeInvalidInput)
}

// servicePrincipalMayUse lists the service methods a service key's principal may use; every
// other method must refuse it (or have nothing to do with principals), and none may panic.
var servicePrincipalMayUse = []string{"ServiceAccounts", "ServiceKeysOf", "ServiceKeyUsage"}

// Every method of the service, called with a service key's principal and zero arguments,
// answers without a panic: an operation written for people reads p.User, which a machine's
// principal lacks, and requirePrincipal must have refused it first.
func TestNoOperationPanicsForAServicePrincipal(t *testing.T) {
	f := newServiceFixture(t)
	v := reflect.ValueOf(f.svc)
	ctxType := reflect.TypeFor[context.Context]()
	called := 0
	for i := range v.NumMethod() {
		m, name := v.Method(i), v.Type().Method(i).Name
		mt := m.Type()
		if mt.NumIn() == 0 || mt.In(0) != ctxType {
			continue
		}
		for _, ctx := range []context.Context{f.readKey, f.adminKey} {
			args := []reflect.Value{reflect.ValueOf(ctx)}
			for j := 1; j < mt.NumIn(); j++ {
				in := mt.In(j)
				switch {
				case in.Kind() == reflect.Pointer:
					args = append(args, reflect.New(in.Elem()))
				case in.Kind() == reflect.Func:
					args = append(args, reflect.MakeFunc(in, func([]reflect.Value) []reflect.Value {
						out := make([]reflect.Value, in.NumOut())
						for k := range out {
							out[k] = reflect.Zero(in.Out(k))
						}
						return out
					}))
				default:
					args = append(args, reflect.Zero(in))
				}
			}
			if mt.IsVariadic() {
				args[len(args)-1] = reflect.Zero(mt.In(mt.NumIn() - 1))
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s panics for a service principal: %v", name, r)
					}
				}()
				called++
				var out []reflect.Value
				if mt.IsVariadic() {
					out = m.CallSlice(args)
				} else {
					out = m.Call(args)
				}
				if len(out) == 0 {
					return
				}
				if err, ok := out[len(out)-1].Interface().(error); ok && err != nil {
					if c := auth.ErrorCode(err); c == auth.CodeInternal {
						t.Errorf("%s: an internal error for a service principal: %v", name, err)
					}
				}
			}()
		}
	}
	if called < 100 {
		t.Fatalf("called only %d methods: the reflection is blind", called)
	}
}

// What a service key may do beyond its service accounts: read its account's users (not
// ADMINs), its account and its audit trail, and, with admin, disable, enable and end the
// sessions of its members: never anything that mints or changes a credential or a role, never
// an ADMIN or an account admin, never another account. Its actions are in the trail as the
// service's, with the key.
func TestServiceAccountRightsOverUsers(t *testing.T) {
	trail := syncTrail{audit.NewRing(1000, 0, time.Now)}
	f := newServiceFixtureWith(t, auth.Config{Auditor: trail})
	mk := func(account, name string, role auth.Role) *auth.User {
		u, err := f.svc.CreateUserInAccount(f.admin, account, name, name+"-password-long", role)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	worker := mk("acme", "worker", auth.RoleMember)
	f.loginIn(t, "acme", "worker", "worker-password-long")
	boss, err := f.svc.User(f.acmeAdmin, auth.PrincipalFrom(f.acmeAdmin).User.ID)
	if err != nil {
		t.Fatal(err)
	}
	stranger := mk("other", "stranger", auth.RoleMember)
	root := auth.PrincipalFrom(f.admin).User
	adminOnly, _ := f.serviceKey(t, f.sa.ID, auth.ScopeAdmin)
	keyID := auth.PrincipalFrom(f.adminKey).Service.KeyID

	// Reading, with read: the users an account admin of acme sees, its own account.
	for name, ctx := range map[string]context.Context{"read": f.readKey, "read+admin": f.adminKey} {
		if u, err := f.svc.User(ctx, worker.ID); err != nil || u.ID != worker.ID {
			t.Fatalf("%s key reading a member of its account: %v, %v", name, u, err)
		}
		if u, err := f.svc.User(ctx, boss.ID); err != nil || u.ID != boss.ID {
			t.Fatalf("%s key reading an account admin of its account: %v, %v", name, u, err)
		}
		for what, id := range map[string]int64{"an ADMIN": root.ID, "another account's user": stranger.ID, "nobody": 1 << 40} {
			_, err := f.svc.User(ctx, id)
			wantCode(t, name+" key reading "+what, err, auth.CodeNotFound)
		}
		if a, err := f.svc.Account(ctx, f.acme.ID); err != nil || a.ID != f.acme.ID {
			t.Fatalf("%s key reading its account: %v, %v", name, a, err)
		}
		_, err := f.svc.Account(ctx, f.other.ID)
		wantCode(t, name+" key reading another account", err, auth.CodeNotFound)
		page, err := f.svc.ListAccounts(ctx, auth.PageRequest{})
		if err != nil || len(page.Accounts) != 1 || page.Accounts[0].ID != f.acme.ID {
			t.Fatalf("%s key listing accounts: %+v, %v", name, page, err)
		}
		if page, err := f.svc.ListAccounts(ctx, auth.PageRequest{After: f.acme.ID}); err != nil || len(page.Accounts) != 0 || !page.HasPreviousPage {
			t.Fatalf("%s key listing accounts after its own: %+v, %v", name, page, err)
		}
		// What an account admin cannot read of a member either: their credentials.
		_, err = f.svc.UserKeys(ctx, worker.ID)
		wantCode(t, name+" key reading a member's keys", err, auth.CodeForbidden)
		_, err = f.svc.Sessions(ctx, worker.ID)
		wantCode(t, name+" key reading a member's sessions", err, auth.CodeForbidden)
		_, err = f.svc.Passkeys(ctx, worker.ID)
		wantCode(t, name+" key reading a member's passkeys", err, auth.CodeForbidden)
	}
	_, err = f.svc.User(adminOnly, worker.ID)
	wantCode(t, "a key without read reading a user", err, auth.CodeForbidden)
	_, err = f.svc.ListAccounts(adminOnly, auth.PageRequest{})
	wantCode(t, "a key without read listing accounts", err, auth.CodeForbidden)

	// Without admin: no trail, no action.
	_, err = f.svc.AuditEvents(f.readKey, auth.EventFilter{}, "", 10)
	wantCode(t, "a read key reading the trail", err, auth.CodeForbidden)
	_, err = f.svc.SetUserDisabled(f.readKey, worker.ID, true)
	wantCode(t, "a read key disabling a member", err, auth.CodeForbidden)
	_, err = f.svc.DeleteSessionsOfUser(f.readKey, worker.ID)
	wantCode(t, "a read key ending a member's sessions", err, auth.CodeForbidden)

	// With admin: members of its account only.
	if _, err := f.svc.DeleteSessionsOfUser(f.adminKey, worker.ID); err != nil {
		t.Fatalf("ending a member's sessions: %v", err)
	}
	if sessions, err := f.svc.Sessions(f.admin, worker.ID); err != nil || len(sessions) != 0 {
		t.Fatalf("a member's sessions after ending them: %d, %v", len(sessions), err)
	}
	f.loginIn(t, "acme", "worker", "worker-password-long")
	if u, err := f.svc.SetUserDisabled(f.adminKey, worker.ID, true); err != nil || !u.Disabled {
		t.Fatalf("disabling a member: %v, %v", u, err)
	}
	if _, err := f.svc.Login(context.Background(), auth.PasswordLogin{Account: "acme", Username: "worker", Password: "worker-password-long"}); err == nil {
		t.Fatal("a disabled member signed in")
	}
	if sessions, err := f.svc.Sessions(f.admin, worker.ID); err != nil || len(sessions) != 0 {
		t.Fatalf("a disabled member's sessions: %d, %v", len(sessions), err)
	}
	if u, err := f.svc.SetUserDisabled(f.adminKey, worker.ID, false); err != nil || u.Disabled {
		t.Fatalf("enabling a member: %v, %v", u, err)
	}
	_, err = f.svc.SetUserDisabled(f.adminKey, boss.ID, true)
	wantCode(t, "disabling an account admin", err, auth.CodeForbidden)
	_, err = f.svc.DeleteSessionsOfUser(f.adminKey, boss.ID)
	wantCode(t, "ending an account admin's sessions", err, auth.CodeForbidden)
	for what, id := range map[string]int64{"an ADMIN": root.ID, "another account's user": stranger.ID} {
		_, err = f.svc.SetUserDisabled(f.adminKey, id, true)
		wantCode(t, "disabling "+what, err, auth.CodeNotFound)
		_, err = f.svc.DeleteSessionsOfUser(f.adminKey, id)
		wantCode(t, "ending the sessions of "+what, err, auth.CodeNotFound)
	}
	if u, _ := f.svc.User(f.admin, boss.ID); u.Disabled {
		t.Fatal("the account admin was disabled")
	}
	if u, _ := f.svc.User(f.admin, stranger.ID); u.Disabled {
		t.Fatal("another account's user was disabled")
	}

	// Still closed: everything that mints or changes a credential or a role, or destroys.
	_, err = f.svc.CreateUserInAccount(f.adminKey, "acme", "minted", "minted-password-long", auth.RoleMember)
	wantCode(t, "creating a user", err, auth.CodeForbidden)
	_, err = f.svc.SetUserRole(f.adminKey, worker.ID, auth.RoleAccountAdmin)
	wantCode(t, "giving a role", err, auth.CodeForbidden)
	_, err = f.svc.SetUserEmail(f.adminKey, worker.ID, "worker@example.com")
	wantCode(t, "setting an email", err, auth.CodeForbidden)
	_, err = f.svc.RenameUser(f.adminKey, worker.ID, "renamed")
	wantCode(t, "renaming a user", err, auth.CodeForbidden)
	_, err = f.svc.DeleteUser(f.adminKey, worker.ID)
	wantCode(t, "deleting a user", err, auth.CodeForbidden)
	_, err = f.svc.RenameAccount(f.adminKey, f.acme.ID, "Mine")
	wantCode(t, "renaming its account", err, auth.CodeForbidden)
	_, err = f.svc.Webhooks(f.adminKey)
	wantCode(t, "reading webhooks", err, auth.CodeForbidden)

	// The trail: its own account's, as an account admin reads it; the actions are the
	// service's, with the key.
	page, err := f.svc.AuditEvents(f.adminKey, auth.EventFilter{}, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var disabled *audit.Event
	for i, e := range page.Events {
		if e.AccountID != f.acme.ID {
			t.Fatalf("a service key read another account's event: %+v", e)
		}
		if e.Type == audit.UserDisabled && e.UserID == worker.ID {
			disabled = &page.Events[i]
		}
	}
	if disabled == nil || disabled.ActorKind != audit.ActorService || disabled.ActorID != f.sa.ID || disabled.ActorKey != keyID || disabled.Outcome != audit.Success {
		t.Fatalf("the disabling is not the service's: %+v", disabled)
	}
	if _, err := f.svc.AuditEvents(f.adminKey, auth.EventFilter{User: worker.ID}, "", 10); err != nil {
		t.Fatalf("a member's trail: %v", err)
	}
	for what, flt := range map[string]auth.EventFilter{"another account": {Account: f.other.ID}, "an ADMIN": {User: root.ID},
		"another account's user": {User: stranger.ID}} {
		_, err = f.svc.AuditEvents(f.adminKey, flt, "", 10)
		wantCode(t, "the trail of "+what, err, auth.CodeNotFound)
	}
}
