package auth_test

import (
	"context"
	"testing"

	"github.com/authgraph/authgraph/internal/auth"
)

// The batch reads answer, id by id, what the single reads answer: the same records to the
// same callers, and nothing (so NOT_FOUND, without saying why) where the single read
// answers NOT_FOUND.
func TestBatchReadsAgreeWithSingleReads(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	acme, err := f.svc.CreateAccount(admin, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	var userIDs []int64
	for _, u := range []struct{ account, name string }{{"", "gina"}, {"acme", "hank"}} {
		made, err := f.svc.CreateUserInAccount(admin, u.account, u.name, u.name+"-password", auth.RoleMember)
		if err != nil {
			t.Fatal(err)
		}
		userIDs = append(userIDs, made.ID)
	}
	gina := f.as(t, "gina", "gina-password")
	enrol(t, f, gina)
	userIDs = append(userIDs, auth.PrincipalFrom(admin).User.ID, 424242)
	accountIDs := []int64{auth.PrincipalFrom(gina).User.AccountID, acme.ID, 424242}

	for _, who := range []struct {
		name                        string
		ctx                         context.Context
		users, accounts, totpStates int // how many each batch read answers
	}{{"member", gina, 1, 1, 1}, {"admin", admin, 3, 2, 4}} { // an admin reads an unknown user's TOTP as off, as TOTPEnabled does
		users, err := f.svc.UsersByID(who.ctx, userIDs)
		if err != nil {
			t.Fatalf("%s: UsersByID: %v", who.name, err)
		}
		for _, id := range userIDs {
			single, err := f.svc.User(who.ctx, id)
			batch, ok := users[id]
			switch {
			case code(err) == auth.CodeNotFound && ok:
				t.Errorf("%s: user %d: User answers NOT_FOUND, UsersByID %+v", who.name, id, batch)
			case err == nil && (!ok || batch.ID != single.ID || batch.Username != single.Username || batch.AccountID != single.AccountID):
				t.Errorf("%s: user %d: User answers %+v, UsersByID %+v", who.name, id, single, batch)
			case err != nil && code(err) != auth.CodeNotFound:
				t.Fatalf("%s: User(%d): %v", who.name, id, err)
			}
		}
		if len(users) != who.users {
			t.Errorf("%s: UsersByID answered %d users, want %d", who.name, len(users), who.users)
		}

		accounts, err := f.svc.AccountsByID(who.ctx, accountIDs)
		if err != nil {
			t.Fatalf("%s: AccountsByID: %v", who.name, err)
		}
		for _, id := range accountIDs {
			single, err := f.svc.Account(who.ctx, id)
			batch, ok := accounts[id]
			switch {
			case code(err) == auth.CodeNotFound && ok:
				t.Errorf("%s: account %d: Account answers NOT_FOUND, AccountsByID %+v", who.name, id, batch)
			case err == nil && (!ok || *batch != *single):
				t.Errorf("%s: account %d: Account answers %+v, AccountsByID %+v", who.name, id, single, batch)
			case err != nil && code(err) != auth.CodeNotFound:
				t.Fatalf("%s: Account(%d): %v", who.name, id, err)
			}
		}
		if len(accounts) != who.accounts {
			t.Errorf("%s: AccountsByID answered %d accounts, want %d", who.name, len(accounts), who.accounts)
		}

		states, err := f.svc.TOTPEnabledByUser(who.ctx, userIDs)
		if err != nil {
			t.Fatalf("%s: TOTPEnabledByUser: %v", who.name, err)
		}
		for _, id := range userIDs {
			single, err := f.svc.TOTPEnabled(who.ctx, id)
			batch, ok := states[id]
			switch {
			case code(err) == auth.CodeNotFound && ok:
				t.Errorf("%s: user %d: TOTPEnabled answers NOT_FOUND, TOTPEnabledByUser %v", who.name, id, batch)
			case err == nil && (!ok || batch != single):
				t.Errorf("%s: user %d: TOTPEnabled answers %v, TOTPEnabledByUser %v (present %v)", who.name, id, single, batch, ok)
			case err != nil && code(err) != auth.CodeNotFound:
				t.Fatalf("%s: TOTPEnabled(%d): %v", who.name, id, err)
			}
		}
		if len(states) != who.totpStates {
			t.Errorf("%s: TOTPEnabledByUser answered %d users, want %d", who.name, len(states), who.totpStates)
		}
	}
	if !f.mustTOTP(t, admin, userIDs[0]) {
		t.Error("gina's TOTP reads as off after enrolment")
	}

	// LookUpAccounts: User's rule for accounts. An admin's key without the admin scope sees
	// its own account only; without the read scope, nothing (FORBIDDEN, as User answers).
	readKey, err := f.svc.CreateUserKey(admin, "read-only", nil, auth.ScopeRead)
	if err != nil {
		t.Fatal(err)
	}
	keysKey, err := f.svc.CreateUserKey(admin, "keys-only", nil, auth.ScopeKeysWrite)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		ctx  context.Context
		want int
		code auth.Code
	}{{"admin", admin, 2, ""}, {"admin without the admin scope", f.asKey(t, readKey), 1, ""}, {"member", gina, 1, ""},
		{"without the read scope", f.asKey(t, keysKey), 0, auth.CodeForbidden},
		{"anonymous", context.Background(), 0, auth.CodeUnauthenticated}} {
		got, err := f.svc.LookUpAccounts(tt.ctx, accountIDs)
		if code(err) != tt.code || len(got) != tt.want {
			t.Errorf("LookUpAccounts as %s: %d accounts, %v; want %d, code %q", tt.name, len(got), err, tt.want, tt.code)
		}
	}

	if _, err := f.svc.UsersByID(context.Background(), userIDs); code(err) != auth.CodeUnauthenticated {
		t.Errorf("UsersByID without a principal: %v, want UNAUTHENTICATED", err)
	}
	if _, err := f.svc.AccountsByID(context.Background(), accountIDs); code(err) != auth.CodeUnauthenticated {
		t.Errorf("AccountsByID without a principal: %v, want UNAUTHENTICATED", err)
	}
	if _, err := f.svc.TOTPEnabledByUser(context.Background(), userIDs); code(err) != auth.CodeUnauthenticated {
		t.Errorf("TOTPEnabledByUser without a principal: %v, want UNAUTHENTICATED", err)
	}
}

// asKey signs in with nk and answers a context carrying the session's principal.
func (f *fixture) asKey(t *testing.T, nk *auth.NewUserKey) context.Context {
	t.Helper()
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

func (f *fixture) mustTOTP(t *testing.T, ctx context.Context, userID int64) bool {
	t.Helper()
	states, err := f.svc.TOTPEnabledByUser(ctx, []int64{userID})
	if err != nil {
		t.Fatal(err)
	}
	return states[userID]
}
