package auth_test

import (
	"context"
	"fmt"
	"strings"
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
