package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/authgraph/authgraph/internal/auth"
)

var renameTests = []test{
	{"RenameUser", func(t *testing.T, e *env) {
		u := e.newUser(t, "old")
		other := e.newUser(t, "taken")
		elsewhere := e.newUserIn(t, testAccount+1, "free-here")
		got, err := e.RenameUser(e.ctx(t), u.ID, "new")
		if err != nil {
			t.Fatal(err)
		}
		if got.Username != "new" || got.ID != u.ID {
			t.Fatalf("RenameUser answered %+v", got)
		}
		if got, err := e.UserByUsername(e.ctx(t), testAccount, "new"); err != nil || got.ID != u.ID {
			t.Fatalf("UserByUsername(new) = %+v, %v", got, err)
		}
		wantNotFound(t, "UserByUsername of the old name", func() error {
			_, err := e.UserByUsername(e.ctx(t), testAccount, "old")
			return err
		}())
		if ids, err := e.AccountsWithUsername(e.ctx(t), "old"); err != nil || len(ids) != 0 {
			t.Errorf("AccountsWithUsername(old) = %v, %v; want none", ids, err)
		}
		if got := mustUser(t, e, u.ID); got.Username != "new" {
			t.Errorf("stored username %q", got.Username)
		}
		// The old name is free again; a taken one is a conflict and changes nothing.
		if err := e.CreateUser(e.ctx(t), &auth.User{AccountID: testAccount, Username: "old", PasswordHash: "h", Role: auth.RoleMember, CreatedAt: e.now()}); err != nil {
			t.Errorf("CreateUser with a released name: %v", err)
		}
		if _, err := e.RenameUser(e.ctx(t), u.ID, "taken"); !errors.Is(err, auth.ErrConflict) {
			t.Errorf("rename to a taken name: %v, want ErrConflict", err)
		}
		if got, err := e.UserByUsername(e.ctx(t), testAccount, "taken"); err != nil || got.ID != other.ID {
			t.Errorf("the holder of a name lost it to a refused rename: %+v, %v", got, err)
		}
		// Names are unique per account only.
		if _, err := e.RenameUser(e.ctx(t), u.ID, elsewhere.Username); err != nil {
			t.Errorf("rename to a name used in another account: %v", err)
		}
		if got, err := e.RenameUser(e.ctx(t), u.ID, elsewhere.Username); err != nil || got.Username != elsewhere.Username {
			t.Errorf("rename to the current name = %+v, %v; want the user unchanged", got, err)
		}
		wantNotFound(t, "RenameUser of an unknown user", func() error {
			_, err := e.RenameUser(e.ctx(t), u.ID+1000, "ghost")
			return err
		}())
		// Deleting a renamed user frees the name it carries.
		if _, err := e.DeleteUser(e.ctx(t), u.ID); err != nil {
			t.Fatal(err)
		}
		if ids, err := e.AccountsWithUsername(e.ctx(t), elsewhere.Username); err != nil || len(ids) != 1 || ids[0] != testAccount+1 {
			t.Errorf("AccountsWithUsername after deleting the renamed user = %v, %v", ids, err)
		}
	}},
	{"RaceRenameUserToOneName", func(t *testing.T, e *env) {
		users := make([]*auth.User, 20)
		for i := range users {
			users[i] = e.newUser(t, fmt.Sprintf("user%d", i))
		}
		winner := make(chan int64, len(users))
		wins := race(t, len(users), func(i int) error {
			_, err := e.RenameUser(e.ctx(t), users[i].ID, "same")
			if err == nil {
				winner <- users[i].ID
			}
			return err
		})
		if wins != 1 {
			t.Fatalf("%d of %d concurrent renames to one name succeeded, want 1", wins, len(users))
		}
		id := <-winner
		if got, err := e.UserByUsername(e.ctx(t), testAccount, "same"); err != nil || got.ID != id {
			t.Errorf("UserByUsername(same) = %+v, %v; want user %d", got, err, id)
		}
		for i, u := range users {
			got := mustUser(t, e, u.ID)
			want := fmt.Sprintf("user%d", i)
			if u.ID == id {
				want = "same"
			}
			if got.Username != want {
				t.Errorf("user %d is named %q, want %q", u.ID, got.Username, want)
			}
			if by, err := e.UserByUsername(e.ctx(t), testAccount, want); err != nil || by.ID != u.ID {
				t.Errorf("UserByUsername(%q) = %+v, %v", want, by, err)
			}
		}
	}},
	{"RaceRenameUserAndDelete", func(t *testing.T, e *env) {
		// A rename racing the user's deletion leaves neither name taken.
		for i := range 10 {
			u := e.newUser(t, fmt.Sprintf("doomed%d", i))
			to := fmt.Sprintf("renamed%d", i)
			race(t, 2, func(j int) error {
				if j == 0 {
					_, err := e.RenameUser(e.ctx(t), u.ID, to)
					return err
				}
				_, err := e.DeleteUser(e.ctx(t), u.ID)
				return err
			})
			for _, name := range []string{u.Username, to} {
				if ids, err := e.AccountsWithUsername(e.ctx(t), name); err != nil || len(ids) != 0 {
					t.Errorf("%q still claimed by %v (%v) after its user was deleted", name, ids, err)
				}
			}
		}
	}},
}
