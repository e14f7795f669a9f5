package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/authgraph/authgraph/internal/auth"
)

var accountAdminTests = []test{
	{"LastAccountID", func(t *testing.T, e *env) {
		if last, err := e.LastAccountID(e.ctx(t)); err != nil || last != 0 {
			t.Fatalf("LastAccountID of an empty store = %d, %v; want 0", last, err)
		}
		a := e.newAccount(t, "one")
		// A refused CreateAccount may use an id up, never lower the last one.
		_ = e.CreateAccount(e.ctx(t), &auth.Account{Slug: "one", Name: "Dup", CreatedAt: e.now()})
		b := e.newAccount(t, "two")
		last, err := e.LastAccountID(e.ctx(t))
		if err != nil || last < b.ID || b.ID <= a.ID {
			t.Fatalf("LastAccountID = %d, %v; accounts %d and %d", last, err, a.ID, b.ID)
		}
	}},
	{"UpdateAccount", func(t *testing.T, e *env) {
		a := e.newAccount(t, "acme")
		got, err := e.UpdateAccount(e.ctx(t), a.ID, func(c *auth.Account) error {
			c.Name, c.Slug, c.ID = "Acme Two", "hijack", c.ID+7
			return nil
		})
		if err != nil || got.Name != "Acme Two" || got.Slug != "acme" || got.ID != a.ID {
			t.Fatalf("UpdateAccount = %+v, %v; want the name changed only", got, err)
		}
		if by, err := e.AccountBySlug(e.ctx(t), "acme"); err != nil || by.Name != "Acme Two" {
			t.Errorf("AccountBySlug after the update = %+v, %v", by, err)
		}
		wantNotFound(t, "AccountBySlug of a slug an edit tried to set", func() error {
			_, err := e.AccountBySlug(e.ctx(t), "hijack")
			return err
		}())
		boom := errors.New("boom")
		if _, err := e.UpdateAccount(e.ctx(t), a.ID, func(c *auth.Account) error { c.Name = "x"; return boom }); !errors.Is(err, boom) {
			t.Errorf("an edit's error: %v", err)
		}
		if got, _ := e.Account(e.ctx(t), a.ID); got.Name != "Acme Two" {
			t.Errorf("an aborted edit saved %q", got.Name)
		}
		wantNotFound(t, "UpdateAccount of an unknown account", func() error {
			_, err := e.UpdateAccount(e.ctx(t), a.ID+100, func(*auth.Account) error { return nil })
			return err
		}())
	}},
	{"RaceUpdateAccount", func(t *testing.T, e *env) {
		// Concurrent edits are serialised: none is lost. Fewer callers than a store's retries
		// of a contended update (each round lets one through), so every call succeeds.
		a := e.newAccount(t, "counted")
		const n = 8
		wins := race(t, n, func(int) error {
			_, err := e.UpdateAccount(e.ctx(t), a.ID, func(c *auth.Account) error {
				c.Name += "+"
				return nil
			})
			return err
		})
		got, err := e.Account(e.ctx(t), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := a.Name + strings.Repeat("+", n); wins != n || got.Name != want {
			t.Errorf("after %d of %d concurrent edits the name is %q, want %q", wins, n, got.Name, want)
		}
	}},
}

var accountDeleteTests = []test{
	{"DeleteAccount", func(t *testing.T, e *env) {
		a := e.newAccount(t, "doomed")
		keep := e.newAccount(t, "kept")
		got, err := e.DeleteAccount(e.ctx(t), a.ID)
		if err != nil || got.ID != a.ID || got.Slug != "doomed" {
			t.Fatalf("DeleteAccount = %+v, %v", got, err)
		}
		wantNotFound(t, "Account of a deleted account", func() error { _, err := e.Account(e.ctx(t), a.ID); return err }())
		wantNotFound(t, "AccountBySlug of a deleted account", func() error { _, err := e.AccountBySlug(e.ctx(t), "doomed"); return err }())
		wantNotFound(t, "DeleteAccount twice", func() error { _, err := e.DeleteAccount(e.ctx(t), a.ID); return err }())
		if found, err := e.AccountsByID(e.ctx(t), []int64{a.ID, keep.ID}); err != nil || len(found) != 1 || found[keep.ID] == nil {
			t.Errorf("AccountsByID after the delete = %v, %v", found, err)
		}
		// The slug is free again, for a new account with a new id.
		again := e.newAccount(t, "doomed")
		if again.ID == a.ID {
			t.Errorf("a new account took the deleted one's id %d", a.ID)
		}
	}},
	{"RaceDeleteAccount", func(t *testing.T, e *env) {
		a := e.newAccount(t, "contested")
		if wins := race(t, 10, func(int) error { _, err := e.DeleteAccount(e.ctx(t), a.ID); return err }); wins != 1 {
			t.Fatalf("%d of 10 concurrent DeleteAccount calls succeeded, want 1", wins)
		}
	}},
}
