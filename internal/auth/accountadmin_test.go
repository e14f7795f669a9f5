package auth_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/memstore"
)

func slugsOf(p *auth.AccountPage) string {
	var s []string
	for _, a := range p.Accounts {
		s = append(s, a.Slug)
	}
	return strings.Join(s, ",")
}

func TestListAccountsPages(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	ids := map[string]int64{}
	def, err := f.svc.EnsureDefaultAccount(admin)
	if err != nil {
		t.Fatal(err)
	}
	ids["default"] = def.ID
	for i := range 5 {
		slug := fmt.Sprintf("t%d", i)
		a, err := f.svc.CreateAccount(admin, slug, "Tenant")
		if err != nil {
			t.Fatal(err)
		}
		ids[slug] = a.ID
		// A taken slug is refused; whatever id it may use up is skipped by the listing.
		if _, err := f.svc.CreateAccount(admin, slug, "Again"); code(err) != auth.CodeConflict {
			t.Fatalf("taken slug: %v", err)
		}
	}
	for _, tc := range []struct {
		req        auth.PageRequest
		want       string
		prev, next bool
	}{
		{auth.PageRequest{}, "default,t0,t1,t2,t3,t4", false, false},
		{auth.PageRequest{First: 2}, "default,t0", false, true},
		{auth.PageRequest{First: 2, After: ids["t0"]}, "t1,t2", true, true},
		{auth.PageRequest{Last: 2}, "t3,t4", true, false},
		{auth.PageRequest{Last: 2, Before: ids["t3"]}, "t1,t2", true, true},
		{auth.PageRequest{After: ids["t1"], Before: ids["t4"]}, "t2,t3", true, true},
		{auth.PageRequest{After: ids["t4"]}, "", true, false},
	} {
		p, err := f.svc.ListAccounts(admin, tc.req)
		if err != nil {
			t.Fatalf("%+v: %v", tc.req, err)
		}
		if got := slugsOf(p); got != tc.want || p.HasPreviousPage != tc.prev || p.HasNextPage != tc.next {
			t.Errorf("%+v = %q prev %v next %v; want %q prev %v next %v", tc.req, got, p.HasPreviousPage, p.HasNextPage, tc.want, tc.prev, tc.next)
		}
	}
	if _, err := f.svc.ListAccounts(admin, auth.PageRequest{First: 1, Last: 1}); code(err) != auth.CodeInvalidInput {
		t.Errorf("first and last: %v", err)
	}
	if _, err := f.svc.CreateUser(admin, "mia", "mia-password-long", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ListAccounts(f.as(t, "mia", "mia-password-long"), auth.PageRequest{}); code(err) != auth.CodeForbidden {
		t.Errorf("a member listing accounts: %v", err)
	}
}

func TestRenameAccount(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	a, err := f.svc.CreateAccount(admin, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateUserInAccount(admin, "acme", "ned", "ned-password-long", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RenameAccount(f.as(t, "ned", "ned-password-long"), a.ID, "Mine"); code(err) != auth.CodeForbidden {
		t.Fatalf("a member renaming their account: %v", err)
	}
	for _, bad := range []string{"", " Acme", strings.Repeat("x", 101), "a\x00b"} {
		if _, err := f.svc.RenameAccount(admin, a.ID, bad); code(err) != auth.CodeInvalidInput {
			t.Errorf("name %q: %v, want BAD_USER_INPUT", bad, err)
		}
	}
	if _, err := f.svc.RenameAccount(admin, a.ID+100, "Ghost"); code(err) != auth.CodeNotFound {
		t.Errorf("unknown account: %v", err)
	}
	got, err := f.svc.RenameAccount(admin, a.ID, "Acme Industries")
	if err != nil || got.Name != "Acme Industries" || got.Slug != "acme" {
		t.Fatalf("rename: %+v, %v", got, err)
	}
	// The slug stays, so sign-in by it goes on working.
	if _, err := f.svc.Login(admin, auth.PasswordLogin{Account: "acme", Username: "ned", Password: "ned-password-long"}); err != nil {
		t.Errorf("sign-in by the slug after the rename: %v", err)
	}
}

// burnedIDs is a store whose account counter has run ahead of its accounts, as refused
// CreateAccount calls leave it on Redis.
type burnedIDs struct {
	*memstore.Store
	extra int64
}

func (b burnedIDs) LastAccountID(ctx context.Context) (int64, error) {
	n, err := b.Store.LastAccountID(ctx)
	return n + b.extra, err
}

// A page skips ids no account took, however many chunks of them it must read through.
func TestListAccountsSkipsUnusedIDs(t *testing.T) {
	c := clock.NewFake(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	st := memstore.New(c)
	h, err := argon2id.New(fastParams)
	if err != nil {
		t.Fatal(err)
	}
	svc := auth.NewService(burnedIDs{st, 3*128 + 5}, h, c, auth.Config{})
	if _, err := svc.EnsureUser(context.Background(), "admin", "admin-password", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	ns, err := svc.LoginPassword(context.Background(), "admin", "admin-password", "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Authenticate(context.Background(), ns.Token)
	if err != nil {
		t.Fatal(err)
	}
	admin := auth.WithPrincipal(context.Background(), p)
	if _, err := svc.CreateAccount(admin, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	page, err := svc.ListAccounts(admin, auth.PageRequest{Last: 1})
	if err != nil || slugsOf(page) != "acme" || !page.HasPreviousPage || page.HasNextPage {
		t.Fatalf("last page = %q prev %v next %v, %v", slugsOf(page), page.HasPreviousPage, page.HasNextPage, err)
	}
	page, err = svc.ListAccounts(admin, auth.PageRequest{First: 5, After: page.Accounts[0].ID})
	if err != nil || len(page.Accounts) != 0 || page.HasNextPage || !page.HasPreviousPage {
		t.Fatalf("page after the last = %q prev %v next %v, %v", slugsOf(page), page.HasPreviousPage, page.HasNextPage, err)
	}
}

func TestDeleteAccount(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	def, err := f.svc.EnsureDefaultAccount(admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.DeleteAccount(admin, def.ID, true); code(err) != auth.CodeInvalidInput {
		t.Fatalf("deleting the default account: %v", err)
	}
	empty, err := f.svc.CreateAccount(admin, "empty", "Empty")
	if err != nil {
		t.Fatal(err)
	}
	full, err := f.svc.CreateAccount(admin, "full", "Full")
	if err != nil {
		t.Fatal(err)
	}
	oli, err := f.svc.CreateUserInAccount(admin, "full", "oli", "oli-password-long", "")
	if err != nil {
		t.Fatal(err)
	}
	// A same-named user elsewhere is not the account's.
	other, err := f.svc.CreateUser(admin, "oli", "oli-password-long", "")
	if err != nil {
		t.Fatal(err)
	}
	ns, err := f.svc.Login(context.Background(), auth.PasswordLogin{Account: "full", Username: "oli", Password: "oli-password-long"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.DeleteAccount(f.as(t, "oli", "oli-password-long"), empty.ID, false); code(err) != auth.CodeForbidden {
		t.Fatalf("a member deleting an account: %v", err)
	}
	if a, err := f.svc.DeleteAccount(admin, empty.ID, false); err != nil || a.Slug != "empty" {
		t.Fatalf("deleting an empty account: %+v, %v", a, err)
	}
	if _, err := f.svc.DeleteAccount(admin, empty.ID, false); code(err) != auth.CodeNotFound {
		t.Fatalf("deleting it again: %v", err)
	}
	if _, err := f.svc.CreateUserInAccount(admin, "full", "boss", "boss-password-long", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.DeleteAccount(f.as(t, "boss", "boss-password-long"), full.ID, true); code(err) != auth.CodeInvalidInput {
		t.Fatalf("an admin deleting their own account: %v", err)
	}
	if _, err := f.svc.DeleteAccount(admin, full.ID, false); code(err) != auth.CodeConflict {
		t.Fatalf("deleting an account with users: %v", err)
	}
	if _, err := f.svc.Authenticate(context.Background(), ns.Token); err != nil {
		t.Fatalf("a refused delete ended a session: %v", err)
	}
	if _, err := f.svc.DeleteAccount(admin, full.ID, true); err != nil {
		t.Fatalf("deleting an account with its users: %v", err)
	}
	if _, err := f.svc.User(admin, oli.ID); code(err) != auth.CodeNotFound {
		t.Errorf("the account's user outlived it: %v", err)
	}
	if _, err := f.svc.Authenticate(context.Background(), ns.Token); code(err) != auth.CodeUnauthenticated {
		t.Errorf("the session of a deleted account's user: %v", err)
	}
	if _, err := f.svc.User(admin, other.ID); err != nil {
		t.Errorf("a user of another account went too: %v", err)
	}
	if _, err := f.svc.CreateUserInAccount(admin, "full", "late", "late-password-long", ""); code(err) != auth.CodeNotFound {
		t.Errorf("creating a user in the deleted account: %v", err)
	}
	if _, err := f.svc.CreateAccount(admin, "full", "Full again"); err != nil {
		t.Errorf("the deleted account's slug is not free: %v", err)
	}
}

// A user created while its account is deleted does not outlive the account: either the
// creation answers NOT_FOUND, or the deletion takes the user with it.
func TestDeleteAccountRacingCreateUser(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	for i := range 20 {
		slug := fmt.Sprintf("racy%d", i)
		a, err := f.svc.CreateAccount(admin, slug, "Racy")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var created *auth.User
		var createErr, deleteErr error
		wg.Go(func() {
			created, createErr = f.svc.CreateUserInAccount(admin, slug, "racer", "racer-password-long", "")
		})
		wg.Go(func() { _, deleteErr = f.svc.DeleteAccount(admin, a.ID, false) })
		wg.Wait()
		if createErr != nil && code(createErr) != auth.CodeNotFound {
			t.Fatalf("create: %v", createErr)
		}
		if deleteErr != nil && code(deleteErr) != auth.CodeConflict {
			t.Fatalf("delete: %v", deleteErr)
		}
		_, accErr := f.svc.Account(admin, a.ID)
		if createErr == nil {
			_, userErr := f.svc.User(admin, created.ID)
			if (accErr == nil) != (userErr == nil) {
				t.Fatalf("round %d: account %v, its user %v: one outlived the other", i, accErr, userErr)
			}
		}
		if deleteErr == nil && accErr == nil {
			t.Fatalf("round %d: the deletion succeeded but the account is there", i)
		}
	}
}
