package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// raceTests start many goroutines at once on one record; the store must let exactly one win.
var raceTests = []test{
	{"RaceDeleteKey", func(t *testing.T, e *env) {
		// Every call that finds the key, or its revocation under way, answers it (so that a
		// retry of a call that failed part-way succeeds): at least one, and then it is gone.
		u := e.newUser(t, "alice")
		k := e.newKey(t, u.ID, "k")
		wins := race(t, 20, func(int) error {
			got, err := e.DeleteKey(e.ctx(t), u.ID, k.ID)
			if err == nil {
				checkKey(t, got, k)
			}
			return err
		})
		if wins < 1 {
			t.Errorf("%d of 20 concurrent DeleteKey calls succeeded, want at least 1", wins)
		}
		if _, err := e.Key(e.ctx(t), k.ID); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("Key after DeleteKey: %v, want ErrNotFound", err)
		}
		if _, err := e.DeleteKey(e.ctx(t), u.ID, k.ID); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("DeleteKey once it has finished: %v, want ErrNotFound", err)
		}
	}},
	{"RaceDeleteSession", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		s := e.newSession(t, u.ID, time.Hour)
		wins := race(t, 20, func(int) error {
			_, err := e.DeleteSession(e.ctx(t), u.ID, s.ID)
			return err
		})
		if wins != 1 {
			t.Errorf("%d of 20 concurrent DeleteSession calls succeeded, want 1", wins)
		}
	}},
	{"RaceCreateUser", func(t *testing.T, e *env) {
		users := make([]*auth.User, 20)
		wins := race(t, 20, func(i int) error {
			users[i] = &auth.User{AccountID: testAccount, Username: "same", PasswordHash: "h", Role: auth.RoleMember, CreatedAt: e.now()}
			err := e.CreateUser(e.ctx(t), users[i])
			if err != nil && !errors.Is(err, auth.ErrConflict) {
				t.Errorf("CreateUser: %v, want nil or ErrConflict", err)
			}
			if err != nil {
				users[i] = nil
			}
			return err
		})
		if wins != 1 {
			t.Fatalf("%d of 20 concurrent CreateUser calls with one username succeeded, want 1", wins)
		}
		for _, u := range users {
			if u != nil {
				got, err := e.UserByUsername(e.ctx(t), testAccount, "same")
				if err != nil {
					t.Fatal(err)
				}
				checkUser(t, got, u)
			}
		}
	}},
	{"RaceCreateSession", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		sessions := make([]*auth.Session, 50)
		for i := range sessions {
			sessions[i] = &auth.Session{
				UserID: u.ID, TokenDigest: newDigest(t), Method: auth.MethodPassword,
				CreatedAt: e.now(), ExpiresAt: e.now().Add(time.Hour),
			}
		}
		wins := race(t, 50, func(i int) error { return e.CreateSession(e.ctx(t), sessions[i]) })
		if wins != 50 {
			t.Fatalf("%d of 50 concurrent CreateSession calls succeeded, want 50", wins)
		}
		seen := map[int64]bool{}
		for _, s := range sessions {
			if seen[s.ID] || s.ID < 1 {
				t.Errorf("session id %d repeated or < 1", s.ID)
			}
			seen[s.ID] = true
			checkSession(t, mustSession(t, e, s), s)
		}
		list, err := e.SessionsOf(e.ctx(t), u.ID)
		if err != nil || len(list) != 50 {
			t.Errorf("SessionsOf = %d sessions, %v; want 50", len(list), err)
		}
	}},
}

// race runs f(0…n-1) in n goroutines released together, and counts the calls that returned
// nil. Errors other than auth.ErrNotFound and auth.ErrConflict fail t.
func race(t *testing.T, n int, f func(i int) error) (wins int) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		start = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			err := f(i)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, auth.ErrNotFound), errors.Is(err, auth.ErrConflict):
			default:
				t.Errorf("call %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	return wins
}
