package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/authgraph/authgraph/internal/auth"
)

var accountTests = []test{
	{"AccountRoundTrip", func(t *testing.T, e *env) {
		var ids []int64
		for _, a := range []*auth.Account{
			{Slug: "default", Name: "Default", CreatedAt: e.now()},
			{Slug: "acme-2", Name: "Acme ✓ Corp", CreatedAt: e.now()},
		} {
			if err := e.CreateAccount(e.ctx(t), a); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, a.ID)
			got, err := e.Account(e.ctx(t), a.ID)
			if err != nil {
				t.Fatalf("Account(%d): %v", a.ID, err)
			}
			checkAccount(t, got, a)
			got.Name = "changed" // a copy: the stored record must not change
			got, err = e.AccountBySlug(e.ctx(t), a.Slug)
			if err != nil {
				t.Fatalf("AccountBySlug(%q): %v", a.Slug, err)
			}
			checkAccount(t, got, a)
		}
		ascending(t, "account", ids)
	}},
	{"SlugTaken", func(t *testing.T, e *env) {
		first := e.newAccount(t, "acme")
		dup := &auth.Account{Slug: "acme", Name: "Other", CreatedAt: e.now()}
		wantErr(t, "CreateAccount of a taken slug", e.CreateAccount(e.ctx(t), dup), auth.ErrConflict)
		got, err := e.AccountBySlug(e.ctx(t), "acme")
		if err != nil {
			t.Fatal(err)
		}
		checkAccount(t, got, first)
	}},
	{"UnknownAccount", func(t *testing.T, e *env) {
		e.newAccount(t, "acme")
		_, err := e.Account(e.ctx(t), 424242)
		wantErr(t, "Account(unknown)", err, auth.ErrNotFound)
		_, err = e.AccountBySlug(e.ctx(t), "globex")
		wantErr(t, "AccountBySlug(unknown)", err, auth.ErrNotFound)
		_, err = e.AccountBySlug(e.ctx(t), "acm")
		wantErr(t, "AccountBySlug(prefix)", err, auth.ErrNotFound)
	}},
	{"UsernamesArePerAccount", func(t *testing.T, e *env) {
		// The same username in two accounts: two users, each found by its account.
		inSecond := e.newUserIn(t, 7, "bob")
		inFirst := e.newUserIn(t, 3, "bob")
		if inFirst.ID == inSecond.ID {
			t.Fatalf("two users share id %d", inFirst.ID)
		}
		for _, want := range []*auth.User{inFirst, inSecond} {
			got, err := e.UserByUsername(e.ctx(t), want.AccountID, "bob")
			if err != nil {
				t.Fatalf("UserByUsername(%d, bob): %v", want.AccountID, err)
			}
			checkUser(t, got, want)
			checkUser(t, mustUser(t, e, want.ID), want)
		}
		_, err := e.UserByUsername(e.ctx(t), 5, "bob")
		wantErr(t, "UserByUsername in an account without that user", err, auth.ErrNotFound)

		// Within one account a username is unique.
		dup := &auth.User{AccountID: 3, Username: "bob", PasswordHash: "h", Role: auth.RoleAdmin, CreatedAt: e.now()}
		wantErr(t, "CreateUser of a username taken in its account", e.CreateUser(e.ctx(t), dup), auth.ErrConflict)
		checkUser(t, mustUserByName(t, e, 3, "bob"), inFirst)

		ids, err := e.AccountsWithUsername(e.ctx(t), "bob")
		if err != nil || !slices.Equal(ids, []int64{3, 7}) {
			t.Errorf("AccountsWithUsername(bob) = %v, %v; want [3 7]", ids, err)
		}
		for _, name := range []string{"nobody", "Bob", "bo"} {
			ids, err = e.AccountsWithUsername(e.ctx(t), name)
			if err != nil || len(ids) != 0 {
				t.Errorf("AccountsWithUsername(%q) = %v, %v; want none", name, ids, err)
			}
		}
	}},
	{"RaceCreateAccount", func(t *testing.T, e *env) {
		wins := race(t, 20, func(int) error {
			err := e.CreateAccount(e.ctx(t), &auth.Account{Slug: "same", Name: "n", CreatedAt: e.now()})
			if err != nil && !errors.Is(err, auth.ErrConflict) {
				t.Errorf("CreateAccount: %v, want nil or ErrConflict", err)
			}
			return err
		})
		if wins != 1 {
			t.Fatalf("%d of 20 concurrent CreateAccount calls with one slug succeeded, want 1", wins)
		}
	}},
	{"RaceCreateUserInTwoAccounts", func(t *testing.T, e *env) {
		// One username, two accounts, ten tries each: exactly one user per account.
		wins := race(t, 20, func(i int) error {
			u := &auth.User{AccountID: int64(1 + i%2), Username: "same", PasswordHash: "h", Role: auth.RoleMember, CreatedAt: e.now()}
			return e.CreateUser(e.ctx(t), u)
		})
		if wins != 2 {
			t.Fatalf("%d of 20 concurrent CreateUser calls succeeded, want 2 (one per account)", wins)
		}
		ids, err := e.AccountsWithUsername(e.ctx(t), "same")
		if err != nil || !slices.Equal(ids, []int64{1, 2}) {
			t.Errorf("AccountsWithUsername = %v, %v; want [1 2]", ids, err)
		}
	}},
}

func (e *env) newAccount(t *testing.T, slug string) *auth.Account {
	t.Helper()
	a := &auth.Account{Slug: slug, Name: "Account " + slug, CreatedAt: e.now()}
	if err := e.CreateAccount(e.ctx(t), a); err != nil {
		t.Fatalf("CreateAccount(%q): %v", slug, err)
	}
	return a
}

func checkAccount(t *testing.T, got, want *auth.Account) {
	t.Helper()
	if got == nil || got.ID != want.ID || got.Slug != want.Slug || got.Name != want.Name || !sameTime(got.CreatedAt, want.CreatedAt) {
		t.Errorf("account = %+v\nwant %+v", got, want)
	}
}

func mustUserByName(t *testing.T, e *env, accountID int64, username string) *auth.User {
	t.Helper()
	u, err := e.UserByUsername(e.ctx(t), accountID, username)
	if err != nil {
		t.Fatalf("UserByUsername(%d, %q): %v", accountID, username, err)
	}
	return u
}
