package storetest

import (
	"maps"
	"testing"
	"time"
)

var batchTests = []test{
	{"UsersByID", func(t *testing.T, e *env) {
		alice, bob, carol := e.newUser(t, "alice"), e.newUser(t, "bob"), e.newUser(t, "carol")
		gone := e.newUser(t, "gone")
		if _, err := e.DeleteUser(e.ctx(t), gone.ID); err != nil {
			t.Fatal(err)
		}
		// A repeated id, an unknown one and a deleted one: the answer holds each found user
		// once, and nothing for the others. On Redis the records lie in different hash slots.
		got, err := e.UsersByID(e.ctx(t), []int64{carol.ID, 424242, alice.ID, carol.ID, gone.ID})
		if err != nil {
			t.Fatalf("UsersByID: %v", err)
		}
		if len(got) != 2 {
			t.Errorf("UsersByID answered %d users, want 2: %v", len(got), got)
		}
		checkUser(t, got[alice.ID], alice)
		checkUser(t, got[carol.ID], carol)
		if _, ok := got[bob.ID]; ok {
			t.Errorf("UsersByID answered user %d, which was not asked for", bob.ID)
		}

		got[alice.ID].Username = "changed" // a copy: the stored record must not change
		again, err := e.UsersByID(e.ctx(t), []int64{alice.ID})
		if err != nil {
			t.Fatal(err)
		}
		checkUser(t, again[alice.ID], alice)

		none, err := e.UsersByID(e.ctx(t), nil)
		if err != nil || len(none) != 0 {
			t.Errorf("UsersByID(none) = %v, %v; want empty, nil", none, err)
		}
	}},
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
