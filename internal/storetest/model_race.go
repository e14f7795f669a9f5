package storetest

import (
	"fmt"
	"slices"
	"sync"

	"pgregory.net/rapid"

	"github.com/authgraph/authgraph/internal/auth"
)

// The racing steps of ModelConcurrent: one revocation runs at the same time as several
// sign-ins, refreshes and requests made with the credential it revokes. However they
// interleave, once the revocation has answered, nothing made from the credential may
// authenticate or refresh: the model marks every session and family of it ended, and every
// session a racing request made, too.

// racer is a request racing a revocation: a sign-in or a refresh, which may make a session.
type racer struct {
	what  string
	owner *mUser
	key   *mKey
	run   func() (*auth.NewSession, error)
	ok    []auth.Code // the failures it may answer, besides success
}

// raced is a session a racer made.
type raced struct {
	racer *racer
	ns    *auth.NewSession
}

// race runs revoke, the racers and an Authenticate of each of probes at once, and answers
// revoke's error and the sessions the racers made (one per distinct token).
func (m *machine) race(revoke func() error, racers []*racer, probes []*mSession) (error, []raced) {
	m.store.setJitter(true)
	defer m.store.setJitter(false)
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		revErr error
		mu     sync.Mutex
		made   []raced
		errs   []string
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		revErr = revoke()
	}()
	for _, r := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ns, err := r.run()
			mu.Lock()
			defer mu.Unlock()
			switch code := auth.ErrorCode(err); {
			case err == nil:
				made = append(made, raced{r, ns})
			case !slices.Contains(r.ok, code):
				errs = append(errs, fmt.Sprintf("%s answered %q (%v)", r.what, code, err))
			}
		}()
	}
	for _, s := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, _ = m.svc.Authenticate(m.ctx, s.tok) // either answer is fine while racing
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		m.rt.Fatalf("racing requests: %v", errs)
	}
	seen := map[string]bool{}
	var out []raced
	for _, r := range made {
		if !seen[r.ns.Token] {
			seen[r.ns.Token] = true
			out = append(out, r)
		}
	}
	return revErr, out
}

// settle records the racers' sessions as ended (the revocation must have ended them all)
// and checks that none of their refresh tokens works.
func (m *machine) settle(made []raced) {
	for _, r := range made {
		s := &mSession{tok: r.ns.Token, id: r.ns.Session.ID, owner: r.racer.owner, method: r.ns.Session.Method, key: r.racer.key}
		m.sessions = append(m.sessions, s)
		if r.ns.RefreshToken != "" {
			_, err := m.svc.Refresh(m.ctx, r.ns.RefreshToken)
			m.expect(fmt.Sprintf("refresh token of %s, made while its credential was revoked", r.racer.what), err, auth.CodeInvalidCredentials)
		}
	}
	m.rt.Logf("  racing requests made %d sessions", len(made))
}

// freshLogin signs u in with the password (and a TOTP code if needed): a caller for a step
// that needs a recent password sign-in.
func (m *machine) freshLogin(u *mUser) *mSession {
	in := auth.PasswordLogin{Username: u.name, Password: u.password}
	if u.totp != "" {
		in.OTP = m.otpCode(u)
	}
	ns, err := m.svc.Login(m.ctx, in)
	m.expect(fmt.Sprintf("password sign-in of user %d", u.id), err, "")
	return m.signedIn(ns, u, auth.MethodPassword, nil)
}

// freshKey makes a key with the user's full rights for a live user, signed in afresh.
func (m *machine) freshKey(rt *rapid.T) *mKey {
	u := m.liveUser(rt)
	if len(m.keys) >= modelMaxKeys {
		rt.Skip("enough keys")
	}
	s := m.freshLogin(u)
	nk, err := m.svc.CreateUserKey(m.as(s), "k", nil)
	m.expect("CreateUserKey", err, "")
	k := &mKey{id: nk.Key.ID, owner: u, eff: keyScopes(u.role), secret: nk.Secret}
	m.keys = append(m.keys, k)
	rt.Logf("key %d of user %d made to race on", k.id, u.id)
	return k
}

// freshFamily signs a live user in with a refreshable session.
func (m *machine) freshFamily(rt *rapid.T) *mFamily {
	u := m.liveUser(rt)
	in := auth.PasswordLogin{Username: u.name, Password: u.password}
	if u.totp != "" {
		in.OTP = m.otpCode(u)
	}
	ns, err := m.svc.Login(m.ctx, in, auth.Refreshable(true))
	m.expect(fmt.Sprintf("refreshable sign-in of user %d", u.id), err, "")
	s := m.signedIn(ns, u, auth.MethodPassword, nil)
	rt.Logf("%v made to race on", s)
	return s.fam
}

// drawRacers draws n requests from the kinds given.
func (m *machine) drawRacers(rt *rapid.T, kinds []func(i int) *racer) []*racer {
	if len(kinds) == 0 {
		rt.Skip("nothing to race with")
	}
	n := rapid.IntRange(2, 6).Draw(rt, "racers")
	out := make([]*racer, n)
	for i := range out {
		out[i] = kinds[rapid.IntRange(0, len(kinds)-1).Draw(rt, "racer")](i)
	}
	return out
}

func (m *machine) passwordRacer(u *mUser) func(int) *racer {
	pw := u.password
	return func(i int) *racer {
		refreshable := i%2 == 1
		return &racer{
			what: fmt.Sprintf("password sign-in of user %d", u.id), owner: u,
			run: func() (*auth.NewSession, error) {
				return m.svc.Login(m.ctx, auth.PasswordLogin{Username: u.name, Password: pw}, auth.Refreshable(refreshable))
			},
			ok: []auth.Code{auth.CodeInvalidCredentials, auth.CodeOTPRequired},
		}
	}
}

func (m *machine) externalRacer(u *mUser) func(int) *racer {
	return func(i int) *racer {
		refreshable := i%2 == 1
		return &racer{
			what: fmt.Sprintf("external sign-in of user %d", u.id), owner: u,
			run: func() (*auth.NewSession, error) {
				return m.svc.LoginExternal(m.ctx, "model:"+u.name, "", auth.Refreshable(refreshable))
			},
			ok: []auth.Code{auth.CodeInvalidCredentials},
		}
	}
}

func (m *machine) keyRacer(k *mKey) func(int) *racer {
	secret := k.secret
	return func(i int) *racer {
		refreshable := i%2 == 1
		return &racer{
			what: fmt.Sprintf("sign-in with key %d", k.id), owner: k.owner, key: k,
			run: func() (*auth.NewSession, error) {
				return m.svc.LoginUserKey(m.ctx, k.id, secret, "", auth.Refreshable(refreshable))
			},
			ok: []auth.Code{auth.CodeInvalidCredentials},
		}
	}
}

func (m *machine) refreshRacer(f *mFamily) func(int) *racer {
	tok := f.refresh
	return func(int) *racer {
		return &racer{
			what: fmt.Sprintf("refresh of family %d", f.id), owner: f.owner, key: f.key,
			run: func() (*auth.NewSession, error) { return m.svc.Refresh(m.ctx, tok) },
			ok:  []auth.Code{auth.CodeInvalidCredentials},
		}
	}
}

// probesOf answers the live sessions for which match holds.
func (m *machine) probesOf(match func(*mSession) bool) []*mSession {
	var out []*mSession
	for _, s := range m.aliveSessions() {
		if match(s) {
			out = append(out, s)
		}
	}
	return out
}

// liveUser draws a user who exists and is not disabled, or skips.
func (m *machine) liveUser(rt *rapid.T) *mUser {
	var live []*mUser
	for _, u := range m.users {
		if !u.deleted && !u.disabled {
			live = append(live, u)
		}
	}
	if len(live) == 0 {
		rt.Skip("no live user")
	}
	return live[rapid.IntRange(0, len(live)-1).Draw(rt, "user")]
}

// racersOfUser: sign-ins with the password and every key of u, refreshes of u's families.
func (m *machine) racersOfUser(u *mUser, families func(*mFamily) bool) []func(int) *racer {
	kinds := []func(int) *racer{m.passwordRacer(u), m.externalRacer(u)}
	for _, k := range m.keys {
		if k.owner == u && !k.deleted {
			kinds = append(kinds, m.keyRacer(k))
		}
	}
	for _, f := range m.families {
		if f.owner == u && f.alive && families(f) {
			kinds = append(kinds, m.refreshRacer(f))
		}
	}
	return kinds
}

func (m *machine) RaceDeleteKey(rt *rapid.T) {
	var live []*mKey
	for _, k := range m.keys {
		if !k.deleted && !k.owner.disabled {
			live = append(live, k)
		}
	}
	if len(live) == 0 {
		live = append(live, m.freshKey(rt))
	}
	k := live[rapid.IntRange(0, len(live)-1).Draw(rt, "key")]
	var caller *mSession
	for _, s := range m.aliveSessions() {
		if s.key != k && keyStepWant(s, k) == "" {
			caller = s
			break
		}
	}
	if caller == nil {
		caller = m.freshLogin(k.owner)
	}
	kinds := []func(int) *racer{m.keyRacer(k)}
	for _, f := range m.families {
		if f.key == k && f.alive {
			kinds = append(kinds, m.refreshRacer(f))
		}
	}
	racers := m.drawRacers(rt, kinds)
	ctx := m.as(caller)
	err, made := m.race(func() error { _, err := m.svc.DeleteUserKey(ctx, k.id); return err }, racers,
		m.probesOf(func(s *mSession) bool { return s.key == k }))
	rt.Logf("%v deletes key %d racing %d requests → %v", caller, k.id, len(racers), orOK(auth.ErrorCode(err)))
	m.expect("DeleteUserKey racing sign-ins", err, "")
	m.deleteKey(k)
	m.settle(made)
}

func (m *machine) RaceChangePassword(rt *rapid.T) {
	u := m.liveUser(rt)
	var caller *mSession
	for _, s := range m.aliveSessions() {
		if s.owner == u && s.scopes == nil && m.recent(s) {
			caller = s
			break
		}
	}
	if caller == nil {
		caller = m.freshLogin(u)
	}
	var kinds []func(int) *racer
	if u.totp == "" {
		kinds = append(kinds, m.passwordRacer(u))
	}
	for _, f := range m.families {
		if f.owner == u && f.alive && f != caller.fam {
			kinds = append(kinds, m.refreshRacer(f))
		}
	}
	racers := m.drawRacers(rt, kinds)
	ctx := m.as(caller)
	next := m.newPassword(u)
	err, made := m.race(func() error { _, _, err := m.svc.ChangePassword(ctx, u.password, next, true); return err }, racers,
		m.probesOf(func(s *mSession) bool { return s.owner == u && s != caller }))
	rt.Logf("%v changes the password, ending the others, racing %d requests → %v", caller, len(racers), orOK(auth.ErrorCode(err)))
	m.expect("ChangePassword racing sign-ins", err, "")
	u.password = next
	m.endAllOf(u, caller)
	m.settle(made)
}

func (m *machine) RaceDisableUser(rt *rapid.T) {
	u := m.liveUser(rt)
	racers := m.drawRacers(rt, m.racersOfUser(u, func(*mFamily) bool { return true }))
	err, made := m.race(func() error { _, err := m.svc.SetUserDisabled(m.admin, u.id, true); return err }, racers,
		m.probesOf(func(s *mSession) bool { return s.owner == u }))
	rt.Logf("admin disables user %d racing %d requests → %v", u.id, len(racers), orOK(auth.ErrorCode(err)))
	m.expect("SetUserDisabled racing sign-ins", err, "")
	u.disabled = true
	m.endAllOf(u, nil)
	m.settle(made)
}

func (m *machine) RaceDeleteUser(rt *rapid.T) {
	u := m.liveUser(rt)
	racers := m.drawRacers(rt, m.racersOfUser(u, func(*mFamily) bool { return true }))
	err, made := m.race(func() error { _, err := m.svc.DeleteUser(m.admin, u.id); return err }, racers,
		m.probesOf(func(s *mSession) bool { return s.owner == u }))
	rt.Logf("admin deletes user %d racing %d requests → %v", u.id, len(racers), orOK(auth.ErrorCode(err)))
	m.expect("DeleteUser racing sign-ins", err, "")
	m.userDeleted(u)
	m.settle(made)
}

func (m *machine) RaceRevokeFamily(rt *rapid.T) {
	var live []*mFamily
	for _, f := range m.families {
		if f.alive && !f.owner.disabled && !f.owner.deleted && (f.key == nil || !f.key.deleted) && len(m.probesOf(func(s *mSession) bool { return s.fam == f })) > 0 {
			live = append(live, f)
		}
	}
	if len(live) == 0 {
		live = append(live, m.freshFamily(rt))
	}
	f := live[rapid.IntRange(0, len(live)-1).Draw(rt, "family")]
	members := m.probesOf(func(s *mSession) bool { return s.fam == f })
	target := members[rapid.IntRange(0, len(members)-1).Draw(rt, "session of the family")]
	racers := m.drawRacers(rt, []func(int) *racer{m.refreshRacer(f)})
	ctx := m.as(target)
	err, made := m.race(func() error { _, err := m.svc.DeleteSession(ctx, nil); return err }, racers, members)
	rt.Logf("%v logs out, ending family %d, racing %d refreshes → %v", target, f.id, len(racers), orOK(auth.ErrorCode(err)))
	m.expect("DeleteSession of a refreshable session racing refreshes", err, "")
	m.endFamily(f)
	m.settle(made)
}
