package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/auth"
)

// revocationTests race each revocation of a credential against sign-ins (and refreshes)
// with it, made by an auth.Service on the store under test, while they are in flight:
// afterwards nothing that any sign-in handed out works, and the store keeps no session
// made from the credential. A sign-in that starts after the revocation has returned must
// fail. These are the rules of auth.SessionStore.CreateSession and auth.KeyStore.DeleteKey;
// the store alone decides them, since the service checks the credential before it saves
// the session, which is what leaves the window.
var revocationTests = []test{
	{"RevokeKeyRacingSignIns", func(t *testing.T, e *env) {
		r := newRevocationEnv(t, e)
		alice := r.member(t, "alice")
		nk, err := r.svc.CreateUserKey(alice, "ci", nil)
		if err != nil {
			t.Fatal(err)
		}
		out := r.race(t, func(i int) ([]*auth.NewSession, error) {
			return r.signInAndRefresh(t, i, func(opts ...auth.LoginOption) (*auth.NewSession, error) {
				return r.svc.LoginUserKey(r.ctx, nk.Key.ID, nk.Secret, "", opts...)
			})
		}, func() {
			if _, err := r.svc.DeleteUserKey(alice, nk.Key.ID); err != nil {
				t.Errorf("DeleteUserKey: %v", err)
			}
		})
		r.allDead(t, out)
		sessions, err := e.SessionsOf(r.ctx, nk.Key.UserID)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sessions {
			if s.UserKeyID == nk.Key.ID {
				t.Errorf("session %d of the deleted key is still stored", s.ID)
			}
		}
	}},
	{"ChangePasswordRacingSignIns", func(t *testing.T, e *env) {
		r := newRevocationEnv(t, e)
		alice := r.member(t, "alice")
		out := r.race(t, func(i int) ([]*auth.NewSession, error) {
			return r.signInAndRefresh(t, i, func(opts ...auth.LoginOption) (*auth.NewSession, error) {
				return r.svc.LoginPassword(r.ctx, "alice", memberPassword, "", opts...)
			})
		}, func() {
			if _, _, err := r.svc.ChangePassword(alice, memberPassword, "a brand new passphrase", true); err != nil {
				t.Errorf("ChangePassword: %v", err)
			}
		})
		r.allDead(t, out)
		// Only the session that changed the password is left.
		p := auth.PrincipalFrom(alice)
		sessions, err := e.SessionsOf(r.ctx, p.User.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(sessions) != 1 || sessions[0].ID != p.Session.ID {
			t.Errorf("%d sessions left after the password change, want only the changer's", len(sessions))
		}
	}},
	{"DisableUserRacingSignIns", func(t *testing.T, e *env) {
		r := newRevocationEnv(t, e)
		admin := r.admin(t)
		alice := r.member(t, "alice")
		id := auth.PrincipalFrom(alice).User.ID
		nk, err := r.svc.CreateUserKey(alice, "ci", nil)
		if err != nil {
			t.Fatal(err)
		}
		out := r.race(t, func(i int) ([]*auth.NewSession, error) {
			return r.signInAndRefresh(t, i, func(opts ...auth.LoginOption) (*auth.NewSession, error) {
				if i%2 == 0 {
					return r.svc.LoginUserKey(r.ctx, nk.Key.ID, nk.Secret, "", opts...)
				}
				return r.svc.LoginPassword(r.ctx, "alice", memberPassword, "", opts...)
			})
		}, func() {
			if _, err := r.svc.SetUserDisabled(admin, id, true); err != nil {
				t.Errorf("disable: %v", err)
			}
		})
		// Enabled again, the user may sign in anew, but nothing from before comes back:
		// Authenticate's own check of the flag no longer hides a survivor.
		if _, err := r.svc.SetUserDisabled(admin, id, false); err != nil {
			t.Fatal(err)
		}
		r.allDead(t, out)
		if sessions, err := e.SessionsOf(r.ctx, id); err != nil || len(sessions) != 0 {
			t.Errorf("SessionsOf after disabling = %d sessions, %v; want none", len(sessions), err)
		}
	}},
	{"DeleteUserRacingSignIns", func(t *testing.T, e *env) {
		r := newRevocationEnv(t, e)
		admin := r.admin(t)
		alice := r.member(t, "alice")
		id := auth.PrincipalFrom(alice).User.ID
		nk, err := r.svc.CreateUserKey(alice, "ci", nil)
		if err != nil {
			t.Fatal(err)
		}
		out := r.race(t, func(i int) ([]*auth.NewSession, error) {
			return r.signInAndRefresh(t, i, func(opts ...auth.LoginOption) (*auth.NewSession, error) {
				if i%2 == 0 {
					return r.svc.LoginUserKey(r.ctx, nk.Key.ID, nk.Secret, "", opts...)
				}
				return r.svc.LoginPassword(r.ctx, "alice", memberPassword, "", opts...)
			})
		}, func() {
			if _, err := r.svc.DeleteUser(admin, id); err != nil {
				t.Errorf("DeleteUser: %v", err)
			}
		})
		r.allDead(t, out)
		if sessions, err := e.SessionsOf(r.ctx, id); err != nil || len(sessions) != 0 {
			t.Errorf("SessionsOf after DeleteUser = %d sessions, %v; want none", len(sessions), err)
		}
	}},
	{"RevokeFamilyRacingRefreshes", func(t *testing.T, e *env) {
		// Each worker keeps refreshing its own family; the families are revoked while the
		// refreshes run. No access session of a revoked family may survive, including one a
		// rotation was making at that moment.
		r := newRevocationEnv(t, e)
		alice := r.member(t, "alice")
		userID := auth.PrincipalFrom(alice).User.ID
		first := make([]*auth.NewSession, revocationWorkers)
		current := make([]string, revocationWorkers)
		for i := range first {
			ns, err := r.svc.LoginPassword(r.ctx, "alice", memberPassword, "", auth.Refreshable(true))
			if err != nil {
				t.Fatal(err)
			}
			first[i], current[i] = ns, ns.RefreshToken
		}
		out := r.race(t, func(i int) ([]*auth.NewSession, error) {
			ns, err := r.svc.Refresh(r.ctx, current[i])
			if err != nil {
				return nil, err
			}
			current[i] = ns.RefreshToken
			return []*auth.NewSession{ns}, nil
		}, func() {
			for _, ns := range first {
				if err := e.RevokeFamily(r.ctx, userID, ns.Session.FamilyID); err != nil {
					t.Errorf("RevokeFamily: %v", err)
				}
			}
		})
		for _, ns := range first {
			out.add(ns)
		}
		r.allDead(t, out)
	}},
}

// revocationWorkers is how many sign-ins run at once in a revocation race.
const revocationWorkers = 8

// memberPassword is the password of the users revocationEnv.member makes.
const memberPassword = "correct horse battery"

// revocationEnv is an auth.Service on the store under test, with a hasher fast enough for
// hundreds of sign-ins.
type revocationEnv struct {
	*env
	svc *auth.Service
	ctx context.Context
}

func newRevocationEnv(t *testing.T, e *env) *revocationEnv {
	t.Helper()
	h, err := argon2id.New(argon2id.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	return &revocationEnv{env: e, svc: auth.NewService(e.Store, h, e.clock, auth.Config{}), ctx: t.Context()}
}

// admin makes an admin and answers a context signed in as them.
func (r *revocationEnv) admin(t *testing.T) context.Context {
	t.Helper()
	if _, err := r.svc.EnsureUser(r.ctx, "root", "root-password-1", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	return r.signedIn(t, "root", "root-password-1")
}

// member makes a member (through the admin) and answers a context signed in as them.
func (r *revocationEnv) member(t *testing.T, username string) context.Context {
	t.Helper()
	if _, err := r.svc.CreateUser(r.admin(t), username, memberPassword, ""); err != nil {
		t.Fatal(err)
	}
	return r.signedIn(t, username, memberPassword)
}

func (r *revocationEnv) signedIn(t *testing.T, username, password string) context.Context {
	t.Helper()
	ns, err := r.svc.LoginPassword(r.ctx, username, password, "")
	if err != nil {
		t.Fatalf("sign in %s: %v", username, err)
	}
	p, err := r.svc.Authenticate(r.ctx, ns.Token)
	if err != nil {
		t.Fatal(err)
	}
	return auth.WithPrincipal(r.ctx, p)
}

// signInAndRefresh signs in with signIn; worker i's odd attempts ask for a refreshable
// session and refresh it at once, so that rotations race the revocation too. It answers
// everything it was handed: a sign-in that succeeded counts as a success even if the
// refresh after it was refused (the revocation came between the two).
func (r *revocationEnv) signInAndRefresh(t *testing.T, i int, signIn func(...auth.LoginOption) (*auth.NewSession, error)) ([]*auth.NewSession, error) {
	t.Helper()
	if i%2 == 0 {
		ns, err := signIn()
		return []*auth.NewSession{ns}, err
	}
	ns, err := signIn(auth.Refreshable(true))
	if err != nil {
		return nil, err
	}
	next, err := r.svc.Refresh(r.ctx, ns.RefreshToken)
	if err != nil {
		if !refused(err) {
			t.Errorf("refresh: %v", err)
		}
		return []*auth.NewSession{ns}, nil
	}
	return []*auth.NewSession{ns, next}, nil
}

// handedOut is every session and refresh token that the sign-ins of a race handed out.
type handedOut struct {
	mu       sync.Mutex
	sessions []*auth.NewSession
}

func (h *handedOut) add(ns ...*auth.NewSession) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range ns {
		if n != nil {
			h.sessions = append(h.sessions, n)
		}
	}
}

// refused reports whether err is how a sign-in or refresh with a revoked credential ends.
func refused(err error) bool {
	c := auth.ErrorCode(err)
	return c == auth.CodeInvalidCredentials || c == auth.CodeRefreshTokenReused
}

// race runs revocationWorkers workers that call attempt(worker) over and over, and calls
// revoke once some attempts have succeeded, so that others are in flight. An attempt that
// starts after revoke has returned must be refused; each worker makes two such attempts,
// then stops. It answers what the successful attempts handed out.
func (r *revocationEnv) race(t *testing.T, attempt func(i int) ([]*auth.NewSession, error), revoke func()) *handedOut {
	t.Helper()
	const (
		warm     = 2 * revocationWorkers // successes before the revocation starts
		maxTries = 5000                  // per worker: a bound, should the revocation never come
	)
	var (
		out       handedOut
		successes atomic.Int32
		revoked   atomic.Bool
		ready     = make(chan struct{})
		readyOnce sync.Once
		wg        sync.WaitGroup
	)
	for i := range revocationWorkers {
		wg.Go(func() {
			after := 0
			for range maxTries {
				late := revoked.Load()
				got, err := attempt(i)
				switch {
				case err == nil && late:
					t.Errorf("worker %d: an attempt that started after the revocation succeeded", i)
				case err == nil:
					out.add(got...)
					if successes.Add(1) == warm {
						readyOnce.Do(func() { close(ready) })
					}
				case !refused(err):
					t.Errorf("worker %d: %v", i, err)
					readyOnce.Do(func() { close(ready) })
					return
				}
				if late {
					if after++; after == 2 {
						return
					}
				}
			}
			readyOnce.Do(func() { close(ready) }) // never warmed up: let the test end
		})
	}
	<-ready
	revoke()
	revoked.Store(true)
	wg.Wait()
	if successes.Load() < warm {
		t.Errorf("only %d sign-ins succeeded before the revocation; the race did not happen", successes.Load())
	}
	return &out
}

// allDead checks that no access token that out holds authenticates and that no refresh
// token makes a new session.
func (r *revocationEnv) allDead(t *testing.T, out *handedOut) {
	t.Helper()
	alive, refreshed := 0, 0
	for _, ns := range out.sessions {
		_, err := r.svc.Authenticate(r.ctx, ns.Token)
		switch auth.ErrorCode(err) {
		case auth.CodeUnauthenticated:
		case "":
			alive++
		default:
			t.Errorf("Authenticate: %v", err)
		}
		if ns.RefreshToken == "" {
			continue
		}
		_, err = r.svc.Refresh(r.ctx, ns.RefreshToken)
		switch {
		case err == nil:
			refreshed++
		case !refused(err):
			t.Errorf("Refresh: %v", err)
		}
	}
	if alive > 0 || refreshed > 0 {
		t.Errorf("after the revocation, %d of %d sessions handed out still authenticate and %d refresh tokens still refresh",
			alive, len(out.sessions), refreshed)
	}
}
