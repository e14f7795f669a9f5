package storetest

import (
	"maps"
	"testing"
	"time"
)

var batchTests = []test{
	{"AccountsByID", func(t *testing.T, e *env) {
		acme, globex, initech := e.newAccount(t, "acme"), e.newAccount(t, "globex"), e.newAccount(t, "initech")
		// A repeated id and an unknown one: the answer holds each found account once, and
		// nothing for the unknown id. On Redis the records lie in different hash slots.
		got, err := e.AccountsByID(e.ctx(t), []int64{initech.ID, 424242, acme.ID, initech.ID})
		if err != nil {
			t.Fatalf("AccountsByID: %v", err)
		}
		if len(got) != 2 {
			t.Errorf("AccountsByID answered %d accounts, want 2: %v", len(got), got)
		}
		checkAccount(t, got[acme.ID], acme)
		checkAccount(t, got[initech.ID], initech)
		if _, ok := got[globex.ID]; ok {
			t.Errorf("AccountsByID answered account %d, which was not asked for", globex.ID)
		}

		got[acme.ID].Name = "changed" // a copy: the stored record must not change
		again, err := e.AccountsByID(e.ctx(t), []int64{acme.ID})
		if err != nil {
			t.Fatal(err)
		}
		checkAccount(t, again[acme.ID], acme)

		none, err := e.AccountsByID(e.ctx(t), nil)
		if err != nil || len(none) != 0 {
			t.Errorf("AccountsByID(none) = %v, %v; want empty, nil", none, err)
		}
	}},
	{"UsersWithTOTP", func(t *testing.T, e *env) {
		on, enrolling, off, never := e.newUser(t, "alice"), e.newUser(t, "bob"), e.newUser(t, "carol"), e.newUser(t, "dave")
		e.enableTOTP(t, on.ID, 1, digests(t, 2))
		e.setPending(t, enrolling.ID, time.Hour) // an enrolment under way is not on
		e.enableTOTP(t, off.ID, 1, nil)
		if err := e.DisableTOTP(e.ctx(t), off.ID); err != nil {
			t.Fatal(err)
		}
		got, err := e.UsersWithTOTP(e.ctx(t), []int64{never.ID, on.ID, enrolling.ID, off.ID, 424242})
		if err != nil {
			t.Fatalf("UsersWithTOTP: %v", err)
		}
		if want := map[int64]bool{on.ID: true}; !maps.Equal(got, want) {
			t.Errorf("UsersWithTOTP = %v, want %v", got, want)
		}

		none, err := e.UsersWithTOTP(e.ctx(t), nil)
		if err != nil || len(none) != 0 {
			t.Errorf("UsersWithTOTP(none) = %v, %v; want empty, nil", none, err)
		}
	}},
}
