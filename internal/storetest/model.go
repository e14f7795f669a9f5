package storetest

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"pgregory.net/rapid"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/token"
)

// The model test drives the domain (auth.Service) over a store with random sequences of
// sign-ins (password, key, refresh), key and session management, account changes and admin
// actions, and after every step checks the store's state against a small model of what must
// hold: which tokens authenticate and with which scopes, which key secrets sign in, which
// sessions and keys each user has. rapid (pgregory.net/rapid) draws the sequences and, on a
// failure, shrinks the sequence to a minimal one and prints it.
//
// These runs share the machine:
//   - Model: the steps one at a time.
//   - ModelConcurrent: plus steps that race a revocation (deleting a key, changing the
//     password, disabling or deleting the user, ending a refresh family) against sign-ins,
//     refreshes and requests made with the credential being revoked. Whatever the
//     interleaving, nothing made from the credential may authenticate afterwards.
//   - ModelFaults: the revocations (and refreshes) meet an injected store failure, before or
//     after the failing call took effect; the client retries until the call succeeds or
//     answers that there is nothing left to revoke, and then nothing of the credential may
//     be left alive. Authenticate under a failure answers SERVICE_UNAVAILABLE, never
//     UNAUTHENTICATED. ModelBackendFaults injects them into the backend's calls instead.
//
// -rapid.checks and -rapid.steps raise the number of runs and their length (defaults 100 and
// an average of 30); ModelConcurrent does fewer runs unless -rapid.checks is given.

// Model runs the sequential model test against the stores newStore makes (one per run).
func Model(t *testing.T, newStore func(t *testing.T, c clock.Clock) auth.Store) {
	runModel(t, newStore, modeSequential, nil)
}

// ModelConcurrent runs the model test with racing revocations.
func ModelConcurrent(t *testing.T, newStore func(t *testing.T, c clock.Clock) auth.Store) {
	runModel(t, newStore, modeConcurrent, nil)
}

// ModelFaults runs the model test with injected store failures and retried revocations.
func ModelFaults(t *testing.T, newStore func(t *testing.T, c clock.Clock) auth.Store) {
	runModel(t, newStore, modeFaults, nil)
}

// Injector fails one chosen call of a store's backend (a Redis command, say): the at-th
// call from Arm, after the backend ran it if after. Disarm stops it and reports whether it
// hit a call.
type Injector interface {
	Arm(at int, after bool)
	Disarm() bool
}

// ModelBackendFaults is ModelFaults with the failures injected by inj below the store, into
// the backend calls that newStore's stores make: a store method that makes several calls can
// then fail half-way, and must still leave a state that a retry completes.
func ModelBackendFaults(t *testing.T, newStore func(t *testing.T, c clock.Clock) auth.Store, inj Injector) {
	runModel(t, newStore, modeFaults, inj)
}

type modelMode int

const (
	modeSequential modelMode = iota
	modeConcurrent
	modeFaults
)

func (m modelMode) String() string {
	return [...]string{"sequential", "concurrent", "faults"}[m]
}

// The service's configuration in the model: nothing expires during a run (the clock moves
// by minutes, at most modelMaxElapsed in all) except what the model tracks: reroll grace,
// refresh grace and the reauthentication window.
const (
	modelAccessTTL   = 48 * time.Hour
	modelReauth      = 15 * time.Minute
	modelMaxElapsed  = 12 * time.Hour
	modelMaxUsers    = 4
	modelMaxKeys     = 6
	modelMaxSessions = 24
	modelIP          = "192.0.2.7"
)

var modelParams = argon2id.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func runModel(t *testing.T, newStore func(t *testing.T, c clock.Clock) auth.Store, mode modelMode, inj Injector) {
	hasher, err := argon2id.New(modelParams)
	if err != nil {
		t.Fatal(err)
	}
	if mode == modeConcurrent && !flagSet("rapid.checks") {
		// Each racing step runs many goroutines; the default 100 runs would take minutes
		// under -race on a small machine.
		restore := setFlag(t, "rapid.checks", "25")
		defer restore()
	}
	var runs, steps int
	perAction := map[string]int{}
	defer func() {
		names := make([]string, 0, len(perAction))
		for n := range perAction {
			names = append(names, n)
		}
		sort.Strings(names)
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, " %s=%d", n, perAction[n])
		}
		t.Logf("model (%s): %d runs (shrinking included), %d steps; steps that ran per action:%s", mode, runs, steps, b.String())
	}()
	rapid.Check(t, func(rt *rapid.T) {
		runs++
		m := newMachine(t, rt, newStore, hasher, mode)
		if inj != nil {
			// A service step makes more backend calls than store calls.
			m.inj, m.faultCalls = inj, 12
		}
		actions := map[string]func(*rapid.T){"": m.Check}
		for name, action := range m.actions() {
			actions[name] = func(rt *rapid.T) {
				action(rt)
				// Reached only if the action was not skipped.
				steps++
				perAction[name]++
			}
		}
		rt.Repeat(actions)
	})
}

// Model records. Scopes are nil for a session with the user's full rights.
type (
	mUser struct {
		id       int64
		name     string
		password string
		role     auth.Role
		disabled bool
		deleted  bool
		totp     string // base32 secret while TOTP is on
	}
	mKey struct {
		id        int64
		owner     *mUser
		stored    []auth.Scope // as asked for: nil means the user's full rights as a key
		eff       []auth.Scope // what its sessions hold
		secret    string
		prev      string // the previous secret, working until prevUntil
		prevUntil time.Time
		retired   []string // secrets that must no longer work
		deleted   bool
	}
	mSession struct {
		tok    string
		id     int64
		owner  *mUser
		method auth.SessionMethod
		key    *mKey
		scopes []auth.Scope
		fam    *mFamily
		authAt time.Time
		alive  bool
	}
	mFamily struct {
		id      int64
		owner   *mUser
		key     *mKey
		method  auth.SessionMethod
		authAt  time.Time
		refresh string               // the current refresh token
		rotated map[string]*rotation // earlier refresh tokens
		alive   bool
	}
	rotation struct {
		at     time.Time
		access *mSession
		next   string
	}
)

func (s *mSession) String() string {
	return fmt.Sprintf("session %d (%s of user %d)", s.id, s.method, s.owner.id)
}

type machine struct {
	rt    *rapid.T
	mode  modelMode
	ctx   context.Context
	svc   *auth.Service
	store *faultStore
	// inj injects the faults of the faults mode (the store wrapper, or the backend's
	// injector), at one of its first faultCalls calls.
	inj        Injector
	faultCalls int
	clock      *clock.Fake
	start      time.Time
	admin      context.Context // the principal of an admin outside the model, for admin steps

	// orphansOK marks the users who may have sessions the model does not know: a refresh
	// whose rotation failed after saving its access session leaves that session behind
	// (redisstore's Rotate does, by design), with a token nobody was ever given.
	orphansOK map[*mUser]bool

	users    []*mUser
	keys     []*mKey
	sessions []*mSession
	families []*mFamily
	pwSeq    int
}

func newMachine(t *testing.T, rt *rapid.T, newStore func(t *testing.T, c clock.Clock) auth.Store, hasher auth.Hasher, mode modelMode) *machine {
	c := clock.NewFake(time.Now().UTC().Truncate(time.Second))
	st := &faultStore{Store: newStore(t, c)}
	m := &machine{
		rt: rt, mode: mode, ctx: auth.WithClient(context.Background(), auth.ClientInfo{IP: modelIP}),
		svc: auth.NewService(st, hasher, c, auth.Config{
			AccessTokenTTL: modelAccessTTL, ReauthWindow: modelReauth, External: modelVerifier{},
		}),
		store: st, inj: st, faultCalls: 6, clock: c, start: c.Now(), orphansOK: map[*mUser]bool{},
	}
	if _, err := m.svc.EnsureUser(m.ctx, "root", "root-password-of-the-model", auth.RoleAdmin); err != nil {
		rt.Fatalf("EnsureUser: %v", err)
	}
	ns, err := m.svc.LoginPassword(m.ctx, "root", "root-password-of-the-model", "")
	if err != nil {
		rt.Fatalf("admin login: %v", err)
	}
	p, err := m.svc.Authenticate(m.ctx, ns.Token)
	if err != nil {
		rt.Fatalf("admin authenticate: %v", err)
	}
	m.admin = auth.WithPrincipal(m.ctx, p)
	for range rapid.IntRange(1, 3).Draw(rt, "initial users") {
		m.CreateUser(rt)
		m.freshLogin(m.users[len(m.users)-1])
	}
	return m
}

// rare skips the step but one time in n, to make steps that end a run's interesting state
// (deleting or disabling a user) or do little (moving the clock) less frequent than others.
func rare(rt *rapid.T, n int) {
	if rapid.IntRange(1, n).Draw(rt, "rare step") != 1 {
		rt.Skip("rare step not drawn")
	}
}

func (m *machine) actions() map[string]func(*rapid.T) {
	a := map[string]func(*rapid.T){
		"CreateUser":     func(rt *rapid.T) { rare(rt, 2); m.CreateUser(rt) },
		"LoginPassword":  m.LoginPassword,
		"LoginKey":       m.LoginKey,
		"LoginExternal":  m.LoginExternal,
		"Refresh":        m.Refresh,
		"CreateKey":      m.CreateKey,
		"RerollKey":      m.RerollKey,
		"DeleteKey":      m.DeleteKey,
		"DeleteSession":  m.DeleteSession,
		"DeleteSessions": m.DeleteSessions,
		"DisableUser":    m.DisableUser,
		"EnableUser":     m.EnableUser,
		"DeleteUser":     m.DeleteUser,
		"ChangePassword": m.ChangePassword,
		"TOTPOn":         m.TOTPOn,
		"TOTPOff":        m.TOTPOff,
		"Advance":        m.Advance,
	}
	switch m.mode {
	case modeConcurrent:
		a["RaceDeleteKey"] = m.RaceDeleteKey
		a["RaceChangePassword"] = m.RaceChangePassword
		a["RaceDisableUser"] = m.RaceDisableUser
		a["RaceDeleteUser"] = m.RaceDeleteUser
		a["RaceRevokeFamily"] = m.RaceRevokeFamily
	case modeFaults:
		a["AuthenticateFault"] = m.AuthenticateFault
	}
	return a
}

// ---- helpers ----

func (m *machine) now() time.Time { return m.clock.Now() }

// expect fails the run unless err has code want ("" for success).
func (m *machine) expect(what string, err error, want auth.Code) {
	m.rt.Helper()
	if got := auth.ErrorCode(err); got != want {
		m.rt.Fatalf("%s: answered %q (%v), model says %q", what, got, err, orOK(want))
	}
}

func orOK(c auth.Code) string {
	if c == "" {
		return "success"
	}
	return string(c)
}

// as answers a context carrying the principal of s, which the model holds alive.
func (m *machine) as(s *mSession) context.Context {
	m.rt.Helper()
	p, err := m.svc.Authenticate(m.ctx, s.tok)
	if err != nil {
		m.rt.Fatalf("%v, alive in the model, does not authenticate: %v", s, err)
	}
	return auth.WithPrincipal(m.ctx, p)
}

// attempt runs op as a client would. In the faults mode a failure is injected into it (at a
// call drawn by rapid, which may lie beyond the calls op makes), and while op answers
// SERVICE_UNAVAILABLE it is retried without failures. It answers op's last error and
// whether an injected failure made op fail at least once, in which case the operation may
// have taken effect before the retry.
func (m *machine) attempt(name string, op func() error) (error, bool) {
	if m.mode != modeFaults {
		return op(), false
	}
	at := rapid.IntRange(0, m.faultCalls-1).Draw(m.rt, "fault at call")
	after := rapid.Bool().Draw(m.rt, "fault after the call")
	m.inj.Arm(at, after)
	err := op()
	fired := m.inj.Disarm()
	if !fired {
		return err, false
	}
	m.rt.Logf("  %s: store failure injected at its call %d (after the call: %v) → %v", name, at, after, orOK(auth.ErrorCode(err)))
	if code := auth.ErrorCode(err); code != auth.CodeUnavailable && code != "" {
		// A failure may turn into another answer only where the model allows it; the caller
		// checks.
		return err, true
	}
	for i := 0; auth.ErrorCode(err) == auth.CodeUnavailable; i++ {
		if i == 3 {
			m.rt.Fatalf("still SERVICE_UNAVAILABLE after %d retries without failures: %v", i, err)
		}
		err = op()
	}
	return err, true
}

func has(scopes []auth.Scope, sc auth.Scope) bool {
	return scopes == nil || slices.Contains(scopes, sc)
}

// covers reports whether a session with scopes have may hold everything of want.
func covers(have, want []auth.Scope) bool {
	for _, sc := range want {
		if !has(have, sc) {
			return false
		}
	}
	return true
}

func (m *machine) recent(s *mSession) bool {
	return s.method != auth.MethodUserKey && m.now().Sub(s.authAt) <= modelReauth
}

func (m *machine) aliveSessions() []*mSession {
	var out []*mSession
	for _, s := range m.sessions {
		if s.alive {
			out = append(out, s)
		}
	}
	return out
}

// drawAlive draws a live session, or skips the step if there is none.
func (m *machine) drawAlive(rt *rapid.T, label string) *mSession {
	alive := m.aliveSessions()
	if len(alive) == 0 {
		rt.Skip("no live session")
	}
	return alive[rapid.IntRange(0, len(alive)-1).Draw(rt, label)]
}

func (m *machine) drawUser(rt *rapid.T) *mUser {
	if len(m.users) == 0 {
		rt.Skip("no user")
	}
	return m.users[rapid.IntRange(0, len(m.users)-1).Draw(rt, "user")]
}

func (m *machine) drawKey(rt *rapid.T) *mKey {
	if len(m.keys) == 0 {
		rt.Skip("no key")
	}
	return m.keys[rapid.IntRange(0, len(m.keys)-1).Draw(rt, "key")]
}

func (m *machine) newPassword(u *mUser) string {
	m.pwSeq++
	return fmt.Sprintf("model password %d of %s", m.pwSeq, u.name)
}

// otpCode moves the clock to the next TOTP step (a code is accepted once per step) and
// answers u's code for it.
func (m *machine) otpCode(u *mUser) string {
	m.clock.Advance(30 * time.Second)
	c, err := totp.GenerateCode(u.totp, m.now())
	if err != nil {
		m.rt.Fatalf("totp code: %v", err)
	}
	return c
}

// addSession records a session made by a sign-in or a refresh with method.
func (m *machine) addSession(ns *auth.NewSession, owner *mUser, method auth.SessionMethod, key *mKey, fam *mFamily, authAt time.Time) *mSession {
	s := &mSession{
		tok: ns.Token, id: ns.Session.ID, owner: owner, method: method, key: key,
		fam: fam, authAt: authAt, alive: true,
	}
	if key != nil {
		s.scopes = slices.Clone(key.eff)
	}
	m.sessions = append(m.sessions, s)
	return s
}

// signedIn records a sign-in's session, and its family if it is refreshable.
func (m *machine) signedIn(ns *auth.NewSession, owner *mUser, method auth.SessionMethod, key *mKey) *mSession {
	var fam *mFamily
	if ns.RefreshToken != "" {
		fam = &mFamily{
			id: ns.Session.FamilyID, owner: owner, key: key, method: method,
			authAt: m.now(), refresh: ns.RefreshToken, rotated: map[string]*rotation{}, alive: true,
		}
		m.families = append(m.families, fam)
	}
	return m.addSession(ns, owner, method, key, fam, m.now())
}

// endFamily: every refresh token and access session of f stops working.
func (m *machine) endFamily(f *mFamily) {
	f.alive = false
	for _, s := range m.sessions {
		if s.fam == f {
			s.alive = false
		}
	}
}

// endSession is the service's DeleteSession: a refreshable session takes its family along.
func (m *machine) endSession(s *mSession) {
	if s.fam != nil {
		m.endFamily(s.fam)
		return
	}
	s.alive = false
}

// endAllOf is the store's DeleteSessionsOf: every session of u but except, and every family
// of u but except's own.
func (m *machine) endAllOf(u *mUser, except *mSession) int {
	m.orphansOK[u] = false // ended too
	n := 0
	for _, s := range m.sessions {
		if s.owner == u && s.alive && s != except {
			s.alive = false
			n++
		}
	}
	for _, f := range m.families {
		if f.owner == u && f.alive && (except == nil || except.fam != f) {
			m.endFamily(f)
		}
	}
	return n
}

func (m *machine) deleteKey(k *mKey) {
	k.deleted = true
	for _, s := range m.sessions {
		if s.key == k {
			s.alive = false
		}
	}
	for _, f := range m.families {
		if f.key == k {
			m.endFamily(f)
		}
	}
}

// keyWorks reports whether secret signs in with k.
func (m *machine) keyWorks(k *mKey, secret string) bool {
	if k.deleted || k.owner.deleted || k.owner.disabled {
		return false
	}
	return secret == k.secret || (k.prev != "" && secret == k.prev && m.now().Before(k.prevUntil))
}

// keyScopes is auth.KeyScopes, written out: the model does not take the rule from the code
// it checks.
func keyScopes(r auth.Role) []auth.Scope {
	if r == auth.RoleAdmin {
		return []auth.Scope{auth.ScopeRead, auth.ScopeKeysWrite, auth.ScopeSessionsWrite, auth.ScopeAdmin}
	}
	return []auth.Scope{auth.ScopeRead, auth.ScopeKeysWrite, auth.ScopeSessionsWrite}
}

// ---- the invariant, checked after every step ----

func (m *machine) Check(rt *rapid.T) {
	for _, s := range m.sessions {
		m.checkSession(s)
	}
	for _, k := range m.keys {
		secrets := []string{k.secret}
		if !k.deleted {
			if k.prev != "" {
				secrets = append(secrets, k.prev)
			}
			if n := len(k.retired); n > 0 {
				secrets = append(secrets, k.retired[n-1])
			}
		}
		for _, sec := range secrets {
			m.checkKeySecret(k, sec)
		}
	}
	for _, u := range m.users {
		m.checkLists(u)
	}
}

func (m *machine) checkSession(s *mSession) {
	p, err := m.svc.Authenticate(m.ctx, s.tok)
	if !s.alive {
		if auth.ErrorCode(err) != auth.CodeUnauthenticated {
			m.rt.Fatalf("%v is dead in the model but Authenticate answered %q (%v)", s, orOK(auth.ErrorCode(err)), err)
		}
		return
	}
	if err != nil {
		m.rt.Fatalf("%v is alive in the model but Authenticate answered %v", s, err)
	}
	got := p.Session
	var keyID, famID int64
	if s.key != nil {
		keyID = s.key.id
	}
	if s.fam != nil {
		famID = s.fam.id
	}
	if p.User.ID != s.owner.id || got.ID != s.id || got.Method != s.method || got.UserKeyID != keyID || got.FamilyID != famID {
		m.rt.Fatalf("%v authenticates as user %d, session %d (%s, key %d, family %d); model: key %d, family %d",
			s, p.User.ID, got.ID, got.Method, got.UserKeyID, got.FamilyID, keyID, famID)
	}
	if !slices.Equal(got.Scopes, s.scopes) || (got.Scopes == nil) != (s.scopes == nil) {
		m.rt.Fatalf("%v holds scopes %v, model says %v (nil: full rights)", s, got.Scopes, s.scopes)
	}
}

// checkKeySecret signs in with secret and expects what the model says; a session it makes is
// ended at once.
func (m *machine) checkKeySecret(k *mKey, secret string) {
	ns, err := m.svc.LoginUserKey(m.ctx, k.id, secret, "")
	what := fmt.Sprintf("key %d signing in with its %s secret", k.id, m.secretName(k, secret))
	if !m.keyWorks(k, secret) {
		m.expect(what, err, auth.CodeInvalidCredentials)
		return
	}
	m.expect(what, err, "")
	if !slices.Equal(ns.Session.Scopes, k.eff) {
		m.rt.Fatalf("%s: session scopes %v, model says %v", what, ns.Session.Scopes, k.eff)
	}
	p, err := m.svc.Authenticate(m.ctx, ns.Token)
	if err != nil {
		m.rt.Fatalf("%s: new session does not authenticate: %v", what, err)
	}
	_, err = m.svc.DeleteSession(auth.WithPrincipal(m.ctx, p), nil)
	m.expect(what+": logout", err, "")
}

func (m *machine) secretName(k *mKey, secret string) string {
	switch {
	case secret == k.secret:
		return "current"
	case secret == k.prev:
		return "previous"
	}
	return "retired"
}

// checkLists compares the sessions and keys the store lists for u with the model's.
func (m *machine) checkLists(u *mUser) {
	sessions, err := m.svc.Sessions(m.admin, u.id)
	if err != nil {
		m.rt.Fatalf("sessions of user %d: %v", u.id, err)
	}
	var got, want []int64
	for _, s := range sessions {
		got = append(got, s.ID)
	}
	for _, s := range m.sessions {
		if s.owner == u && s.alive {
			want = append(want, s.id)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	known := map[int64]bool{}
	for _, s := range m.sessions {
		known[s.id] = true
	}
	extra := slices.DeleteFunc(slices.Clone(got), func(id int64) bool { return slices.Contains(want, id) })
	unknownOnly := !slices.ContainsFunc(extra, func(id int64) bool { return known[id] })
	if !slices.Equal(got, want) && !(m.orphansOK[u] && unknownOnly && len(got) == len(want)+len(extra)) {
		m.rt.Fatalf("user %d: the store lists sessions %v, the model has %v alive", u.id, got, want)
	}
	keys, err := m.svc.UserKeys(m.admin, u.id)
	if err != nil {
		m.rt.Fatalf("keys of user %d: %v", u.id, err)
	}
	got, want = nil, nil
	for _, k := range keys {
		got = append(got, k.ID)
	}
	for _, k := range m.keys {
		if k.owner == u && !k.deleted {
			want = append(want, k.id)
		}
	}
	if !slices.Equal(got, want) {
		m.rt.Fatalf("user %d: the store lists keys %v, the model has %v", u.id, got, want)
	}
}

// ---- steps ----

func (m *machine) CreateUser(rt *rapid.T) {
	if len(m.users) >= modelMaxUsers {
		rt.Skip("enough users")
	}
	role := rapid.SampledFrom([]auth.Role{auth.RoleMember, auth.RoleMember, auth.RoleAdmin}).Draw(rt, "role")
	u := &mUser{name: fmt.Sprintf("user%d", len(m.users)+1), role: role}
	u.password = m.newPassword(u)
	got, err := m.svc.CreateUser(m.admin, u.name, u.password, role)
	m.expect("CreateUser", err, "")
	u.id = got.ID
	m.users = append(m.users, u)
	rt.Logf("user %d (%s) created", u.id, role)
}

func (m *machine) LoginPassword(rt *rapid.T) {
	if len(m.aliveSessions()) >= modelMaxSessions {
		rt.Skip("enough sessions")
	}
	u := m.drawUser(rt)
	right := rapid.IntRange(0, 3).Draw(rt, "password (0: wrong)") > 0
	refreshable := rapid.Bool().Draw(rt, "refreshable")
	withCode := rapid.IntRange(0, 3).Draw(rt, "otp (0: none)") > 0
	in := auth.PasswordLogin{Username: u.name, Password: u.password}
	if !right {
		in.Password = "not the password at all"
	}
	var want auth.Code
	switch {
	case u.deleted || u.disabled || !right:
		want = auth.CodeInvalidCredentials
	case u.totp != "" && !withCode:
		want = auth.CodeOTPRequired
	}
	if u.totp != "" && withCode {
		in.OTP = m.otpCode(u)
	}
	ns, err := m.svc.Login(m.ctx, in, auth.Refreshable(refreshable))
	rt.Logf("login of user %d (right password %v, refreshable %v, otp %v) → %v", u.id, right, refreshable, in.OTP != "", orOK(auth.ErrorCode(err)))
	m.expect("LoginPassword", err, want)
	if err == nil {
		s := m.signedIn(ns, u, auth.MethodPassword, nil)
		rt.Logf("  %v", s)
	}
}

// modelVerifier accepts the external tokens "model:<username>" as that user of the default
// account, and rejects every other.
type modelVerifier struct{}

func (modelVerifier) Verify(_ context.Context, tok string) (auth.ExternalIdentity, error) {
	name, ok := strings.CutPrefix(tok, "model:")
	if !ok {
		return auth.ExternalIdentity{}, fmt.Errorf("not a model token: %w", auth.ErrExternalTokenRejected)
	}
	return auth.ExternalIdentity{Issuer: "https://idp.example", Subject: "sub-" + name, Username: name}, nil
}

func (m *machine) LoginExternal(rt *rapid.T) {
	if len(m.aliveSessions()) >= modelMaxSessions {
		rt.Skip("enough sessions")
	}
	u := m.drawUser(rt)
	accepted := rapid.IntRange(0, 3).Draw(rt, "token (0: rejected)") > 0
	refreshable := rapid.Bool().Draw(rt, "refreshable")
	tok := "model:" + u.name
	if !accepted {
		tok = "forged:" + u.name
	}
	ns, err := m.svc.LoginExternal(m.ctx, tok, "", auth.Refreshable(refreshable))
	rt.Logf("external sign-in of user %d (accepted token %v, refreshable %v) → %v", u.id, accepted, refreshable, orOK(auth.ErrorCode(err)))
	if !accepted || u.deleted || u.disabled {
		m.expect("LoginExternal", err, auth.CodeInvalidCredentials)
		return
	}
	m.expect("LoginExternal", err, "")
	s := m.signedIn(ns, u, auth.MethodExternal, nil)
	rt.Logf("  %v", s)
}

func (m *machine) LoginKey(rt *rapid.T) {
	if len(m.aliveSessions()) >= modelMaxSessions {
		rt.Skip("enough sessions")
	}
	k := m.drawKey(rt)
	choices := []string{"current", "unknown"}
	if k.prev != "" {
		choices = append(choices, "previous")
	}
	if len(k.retired) > 0 {
		choices = append(choices, "retired")
	}
	which := rapid.SampledFrom(choices).Draw(rt, "secret")
	secret := k.secret
	switch which {
	case "previous":
		secret = k.prev
	case "retired":
		secret = rapid.SampledFrom(k.retired).Draw(rt, "retired secret")
	case "unknown":
		secret = newWrongSecret(rt)
	}
	refreshable := rapid.Bool().Draw(rt, "refreshable")
	ns, err := m.svc.LoginUserKey(m.ctx, k.id, secret, "", auth.Refreshable(refreshable))
	rt.Logf("key %d sign-in with its %s secret (refreshable %v) → %v", k.id, which, refreshable, orOK(auth.ErrorCode(err)))
	if !m.keyWorks(k, secret) {
		m.expect("LoginUserKey", err, auth.CodeInvalidCredentials)
		return
	}
	m.expect("LoginUserKey", err, "")
	s := m.signedIn(ns, k.owner, auth.MethodUserKey, k)
	rt.Logf("  %v", s)
}

func (m *machine) Refresh(rt *rapid.T) {
	if len(m.families) == 0 {
		rt.Skip("no family")
	}
	f := m.families[rapid.IntRange(0, len(m.families)-1).Draw(rt, "family")]
	presented := f.refresh
	var rot *rotation
	if len(f.rotated) > 0 && rapid.IntRange(0, 2).Draw(rt, "token (0: an earlier one)") == 0 {
		old := slices.Sorted(func(yield func(string) bool) {
			for tok := range f.rotated {
				if !yield(tok) {
					return
				}
			}
		})
		presented = rapid.SampledFrom(old).Draw(rt, "earlier token")
		rot = f.rotated[presented]
	}
	var ns *auth.NewSession
	err, retried := m.attempt("Refresh", func() (err error) {
		ns, err = m.svc.Refresh(m.ctx, presented)
		return err
	})
	if retried {
		m.orphansOK[f.owner] = true
	}
	rt.Logf("refresh of family %d with its %s token → %v (retried %v)", f.id, map[bool]string{true: "current", false: "earlier"}[rot == nil], orOK(auth.ErrorCode(err)), retried)

	ownerGone := f.owner.deleted || f.owner.disabled || (f.key != nil && f.key.deleted)
	switch {
	case !f.alive:
		m.expect("Refresh of an ended family", err, auth.CodeInvalidCredentials)
	case ownerGone:
		m.expect("Refresh of a family whose user or key is gone", err, auth.CodeInvalidCredentials)
		m.endFamily(f)
	case rot == nil:
		m.expect("Refresh", err, "")
		if ns.Session.FamilyID != f.id {
			rt.Fatalf("refresh of family %d made a session of family %d", f.id, ns.Session.FamilyID)
		}
		s := m.addSession(ns, f.owner, f.method, f.key, f, f.authAt)
		f.rotated[presented] = &rotation{at: m.now(), access: s, next: ns.RefreshToken}
		f.refresh = ns.RefreshToken
		rt.Logf("  %v", s)
	case m.now().Sub(rot.at) < auth.DefaultRefreshGrace:
		if !rot.access.alive {
			m.expect("Refresh replayed within the grace, its successor ended", err, auth.CodeInvalidCredentials)
			return
		}
		m.expect("Refresh replayed within the grace", err, "")
		if ns.Token != rot.access.tok || ns.RefreshToken != rot.next {
			rt.Fatalf("a replay within the grace answered another pair than the rotation's")
		}
	default:
		want := auth.CodeRefreshTokenReused
		if retried && auth.ErrorCode(err) == auth.CodeInvalidCredentials {
			want = auth.CodeInvalidCredentials // the failed attempt revoked the family already
		}
		m.expect("Refresh with a token reused after the grace", err, want)
		m.endFamily(f)
	}
}

func (m *machine) CreateKey(rt *rapid.T) {
	if len(m.keys) >= modelMaxKeys {
		rt.Skip("enough keys")
	}
	s := m.drawAlive(rt, "caller")
	var requested []auth.Scope
	if rapid.Bool().Draw(rt, "explicit scopes") {
		requested = rapid.SliceOfNDistinct(rapid.SampledFrom(auth.AllScopes), 1, 3, rapid.ID[auth.Scope]).Draw(rt, "scopes")
	}
	var want auth.Code
	var stored []auth.Scope
	switch {
	case !has(s.scopes, auth.ScopeKeysWrite):
		want = auth.CodeForbidden
	case requested == nil && s.scopes != nil:
		stored = slices.Clone(s.scopes)
	case requested == nil:
		// Spelled out: what the owner's role allows now, not whatever it will allow later.
		stored = keyScopes(s.owner.role)
	case requested != nil:
		for _, sc := range requested {
			switch {
			case sc == auth.ScopeAccountWrite, !slices.Contains(keyScopes(s.owner.role), sc):
				want = auth.CodeInvalidInput
			case !has(s.scopes, sc):
				want = auth.CodeForbidden
			}
			if want != "" {
				break
			}
		}
		for _, sc := range auth.AllScopes { // the order scopes are answered in
			if slices.Contains(requested, sc) {
				stored = append(stored, sc)
			}
		}
	}
	nk, err := m.svc.CreateUserKey(m.as(s), "k", nil, requested...)
	rt.Logf("%v creates a key with scopes %v → %v", s, requested, orOK(auth.ErrorCode(err)))
	m.expect("CreateUserKey", err, want)
	if err != nil {
		return
	}
	k := &mKey{id: nk.Key.ID, owner: s.owner, stored: stored, eff: stored, secret: nk.Secret}
	if stored == nil {
		k.eff = keyScopes(s.owner.role)
	}
	if !slices.Equal(nk.Key.Scopes, stored) || (nk.Key.Scopes == nil) != (stored == nil) {
		rt.Fatalf("key %d stored scopes %v, model says %v", k.id, nk.Key.Scopes, stored)
	}
	m.keys = append(m.keys, k)
	rt.Logf("  key %d of user %d holds %v", k.id, k.owner.id, k.eff)
}

// keyStepWant is what a step on key k by session s must answer before its own effect: a
// session without keys:write is forbidden, someone else's (or a deleted) key is not found,
// and a key that could do more than s is forbidden: a session never gets hold of, or control
// over, a credential wider than itself.
func keyStepWant(s *mSession, k *mKey) auth.Code {
	switch {
	case !has(s.scopes, auth.ScopeKeysWrite):
		return auth.CodeForbidden
	case k.deleted || k.owner != s.owner:
		return auth.CodeNotFound
	case !covers(s.scopes, k.eff):
		return auth.CodeForbidden
	}
	return ""
}

func (m *machine) RerollKey(rt *rapid.T) {
	s := m.drawAlive(rt, "caller")
	k := m.drawKey(rt)
	grace := rapid.SampledFrom([]time.Duration{0, time.Minute, time.Hour}).Draw(rt, "grace")
	want := keyStepWant(s, k)
	nk, err := m.svc.RerollUserKey(m.as(s), k.id, grace)
	rt.Logf("%v rerolls key %d (scopes %v) with grace %v → %v", s, k.id, k.eff, grace, orOK(auth.ErrorCode(err)))
	m.expect("RerollUserKey", err, want)
	if err != nil {
		return
	}
	if k.prev != "" {
		k.retired = append(k.retired, k.prev)
	}
	k.prev, k.prevUntil = "", time.Time{}
	if grace > 0 {
		k.prev, k.prevUntil = k.secret, m.now().Add(grace)
	} else {
		k.retired = append(k.retired, k.secret)
	}
	k.secret = nk.Secret
}

func (m *machine) DeleteKey(rt *rapid.T) {
	s := m.drawAlive(rt, "caller")
	k := m.drawKey(rt)
	want := keyStepWant(s, k)
	ctx := m.as(s)
	err, retried := m.attempt("DeleteUserKey", func() error { _, err := m.svc.DeleteUserKey(ctx, k.id); return err })
	rt.Logf("%v deletes key %d (scopes %v) → %v (retried %v)", s, k.id, k.eff, orOK(auth.ErrorCode(err)), retried)
	effect := want == ""
	if retried && effect && auth.ErrorCode(err) == auth.CodeNotFound {
		want = auth.CodeNotFound // the failed attempt deleted the key; the retry finds none
	}
	if err == nil && want == auth.CodeNotFound && k.deleted && k.owner == s.owner && has(s.scopes, auth.ScopeKeysWrite) {
		// A deletion whose last step (removing the revoked record) failed answered the key
		// all the same; a later delete finds that record, finishes, and answers it again.
		// Idempotent, and nothing comes back: the checks after the step still find the key
		// dead.
		want = ""
	}
	m.expect("DeleteUserKey", err, want)
	if effect {
		m.deleteKey(k)
	}
}

func (m *machine) DeleteSession(rt *rapid.T) {
	s := m.drawAlive(rt, "caller")
	target := s
	if !rapid.Bool().Draw(rt, "own session") {
		target = m.sessions[rapid.IntRange(0, len(m.sessions)-1).Draw(rt, "target")]
	}
	var want auth.Code
	switch {
	case target == s:
	case !has(s.scopes, auth.ScopeSessionsWrite):
		want = auth.CodeForbidden
	case target.owner != s.owner || !target.alive:
		want = auth.CodeNotFound
	}
	ctx := m.as(s)
	var ended *auth.EndedSession
	err, retried := m.attempt("DeleteSession", func() (err error) {
		var id *int64
		if target != s {
			id = &target.id
		}
		ended, err = m.svc.DeleteSession(ctx, id)
		return err
	})
	rt.Logf("%v ends %v → %v (retried %v)", s, target, orOK(auth.ErrorCode(err)), retried)
	effect := want == ""
	if retried && effect && auth.ErrorCode(err) == auth.CodeNotFound {
		want = auth.CodeNotFound // the failed attempt ended it; the retry finds nothing
	}
	m.expect("DeleteSession", err, want)
	if effect {
		m.endSession(target)
	}
	if err == nil && (ended.Session.ID != target.id || (target == s) != (ended.Token == s.tok)) {
		rt.Fatalf("DeleteSession answered session %d (token echoed %v), model: %d (own %v)", ended.Session.ID, ended.Token != "", target.id, target == s)
	}
}

func (m *machine) DeleteSessions(rt *rapid.T) {
	s := m.drawAlive(rt, "caller")
	which := rapid.SampledFrom([]auth.SessionsScope{auth.SessionsOthers, auth.SessionsAll}).Draw(rt, "which")
	var want auth.Code
	if !has(s.scopes, auth.ScopeSessionsWrite) {
		want = auth.CodeForbidden
	}
	ctx := m.as(s)
	var n int
	err, retried := m.attempt("DeleteSessions", func() (err error) { n, err = m.svc.DeleteSessions(ctx, which); return err })
	rt.Logf("%v ends %s sessions → %d, %v (retried %v)", s, which, n, orOK(auth.ErrorCode(err)), retried)
	m.expect("DeleteSessions", err, want)
	if err != nil {
		return
	}
	except := s
	if which == auth.SessionsAll {
		except = nil
	}
	orphans := m.orphansOK[s.owner]
	if ended := m.endAllOf(s.owner, except); ended != n && !retried && !(orphans && n > ended) {
		rt.Fatalf("DeleteSessions ended %d sessions, model says %d", n, ended)
	}
}

func (m *machine) DisableUser(rt *rapid.T) {
	rare(rt, 4)
	u := m.drawUser(rt)
	var want auth.Code
	if u.deleted {
		want = auth.CodeNotFound
	}
	err, retried := m.attempt("SetUserDisabled", func() error { _, err := m.svc.SetUserDisabled(m.admin, u.id, true); return err })
	rt.Logf("admin disables user %d → %v (retried %v)", u.id, orOK(auth.ErrorCode(err)), retried)
	m.expect("SetUserDisabled(true)", err, want)
	if err == nil {
		u.disabled = true
		m.endAllOf(u, nil)
	}
}

func (m *machine) EnableUser(rt *rapid.T) {
	rare(rt, 3)
	u := m.drawUser(rt)
	var want auth.Code
	if u.deleted {
		want = auth.CodeNotFound
	}
	_, err := m.svc.SetUserDisabled(m.admin, u.id, false)
	rt.Logf("admin enables user %d → %v", u.id, orOK(auth.ErrorCode(err)))
	m.expect("SetUserDisabled(false)", err, want)
	if err == nil {
		u.disabled = false
	}
}

func (m *machine) DeleteUser(rt *rapid.T) {
	rare(rt, 6)
	u := m.drawUser(rt)
	var want auth.Code
	if u.deleted {
		want = auth.CodeNotFound
	}
	err, retried := m.attempt("DeleteUser", func() error { _, err := m.svc.DeleteUser(m.admin, u.id); return err })
	rt.Logf("admin deletes user %d → %v (retried %v)", u.id, orOK(auth.ErrorCode(err)), retried)
	if retried && want == "" && auth.ErrorCode(err) == auth.CodeNotFound {
		want = auth.CodeNotFound
	}
	m.expect("DeleteUser", err, want)
	if !u.deleted {
		m.userDeleted(u)
	}
}

func (m *machine) userDeleted(u *mUser) {
	u.deleted, u.totp = true, ""
	m.endAllOf(u, nil)
	for _, k := range m.keys {
		if k.owner == u {
			m.deleteKey(k)
		}
	}
}

func (m *machine) ChangePassword(rt *rapid.T) {
	s := m.drawAlive(rt, "caller")
	right := rapid.IntRange(0, 3).Draw(rt, "current password (0: wrong)") > 0
	endOthers := rapid.Bool().Draw(rt, "end other sessions")
	u := s.owner
	current, next := u.password, m.newPassword(u)
	if !right {
		current = "not the password at all"
	}
	var want auth.Code
	switch {
	case !has(s.scopes, auth.ScopeAccountWrite):
		want = auth.CodeForbidden
	case !m.recent(s):
		want = auth.CodeReauthenticationRequired
	case !right:
		want = auth.CodeInvalidCredentials
	}
	ctx := m.as(s)
	var n int
	err, retried := m.attempt("ChangePassword", func() (err error) { _, n, err = m.svc.ChangePassword(ctx, current, next, endOthers); return err })
	rt.Logf("%v changes the password (right %v, end others %v) → %v (retried %v)", s, right, endOthers, orOK(auth.ErrorCode(err)), retried)
	effect := want == ""
	if retried && effect && auth.ErrorCode(err) == auth.CodeInvalidCredentials {
		// The failed attempt changed the password; the retry finds the old one wrong. The
		// model still requires what a success would have done.
		want = auth.CodeInvalidCredentials
	}
	m.expect("ChangePassword", err, want)
	if !effect {
		return
	}
	u.password = next
	if endOthers {
		orphans := m.orphansOK[u]
		if ended := m.endAllOf(u, s); ended != n && err == nil && !retried && !(orphans && n > ended) {
			rt.Fatalf("ChangePassword ended %d sessions, model says %d", n, ended)
		}
	}
}

func (m *machine) TOTPOn(rt *rapid.T) {
	s := m.drawAlive(rt, "caller")
	u := s.owner
	var want auth.Code
	switch {
	case !has(s.scopes, auth.ScopeAccountWrite):
		want = auth.CodeForbidden
	case !m.recent(s):
		want = auth.CodeReauthenticationRequired
	case u.totp != "":
		want = auth.CodeConflict
	}
	// Enrolling needs the current password: a stolen session alone cannot lock the owner
	// out with an authenticator of its own.
	password := u.password
	if right := rapid.IntRange(0, 3).Draw(rt, "password (0: wrong)") > 0; !right {
		password = "not " + u.password
		if want == "" {
			want = auth.CodeInvalidCredentials
		}
	}
	ctx := m.as(s)
	en, err := m.svc.EnableTOTP(ctx, password)
	rt.Logf("%v enables TOTP → %v", s, orOK(auth.ErrorCode(err)))
	m.expect("EnableTOTP", err, want)
	if err != nil {
		return
	}
	code, err := totp.GenerateCode(en.Secret, m.now())
	if err != nil {
		rt.Fatal(err)
	}
	_, err = m.svc.ConfirmTOTP(ctx, code)
	m.expect("ConfirmTOTP", err, "")
	u.totp = en.Secret
}

func (m *machine) TOTPOff(rt *rapid.T) {
	s := m.drawAlive(rt, "caller")
	u := s.owner
	withCode := rapid.Bool().Draw(rt, "with a code (else the password)")
	var want auth.Code
	switch {
	case !has(s.scopes, auth.ScopeAccountWrite):
		want = auth.CodeForbidden
	case !m.recent(s):
		want = auth.CodeReauthenticationRequired
	case u.totp == "":
		want = auth.CodeConflict
	}
	code, password := "", u.password
	if withCode && u.totp != "" && want == "" {
		code, password = m.otpCode(u), ""
		if !m.recent(s) { // the code's step moved the clock
			want = auth.CodeReauthenticationRequired
		}
	}
	err := m.svc.DisableTOTP(m.as(s), code, password)
	rt.Logf("%v disables TOTP (code %v) → %v", s, code != "", orOK(auth.ErrorCode(err)))
	m.expect("DisableTOTP", err, want)
	if err == nil {
		u.totp = ""
	}
}

func (m *machine) Advance(rt *rapid.T) {
	rare(rt, 3)
	d := rapid.SampledFrom([]time.Duration{time.Second, 11 * time.Second, 61 * time.Second, 10 * time.Minute, 20 * time.Minute}).Draw(rt, "advance")
	if m.now().Add(d).Sub(m.start) > modelMaxElapsed {
		rt.Skip("the clock has moved enough")
	}
	m.clock.Advance(d)
	rt.Logf("clock +%v", d)
}

// AuthenticateFault: a store failure during Authenticate answers SERVICE_UNAVAILABLE, never
// UNAUTHENTICATED, which would log the user out.
func (m *machine) AuthenticateFault(rt *rapid.T) {
	s := m.drawAlive(rt, "session")
	at := rapid.IntRange(0, 1).Draw(rt, "fault at call")
	m.inj.Arm(at, rapid.Bool().Draw(rt, "fault after the call"))
	_, err := m.svc.Authenticate(m.ctx, s.tok)
	m.inj.Disarm()
	m.expect(fmt.Sprintf("Authenticate of %v with the store failing", s), err, auth.CodeUnavailable)
}

// newWrongSecret answers a well-formed key secret that is nobody's.
func newWrongSecret(rt *rapid.T) string {
	s, err := token.New(token.UserKeySecret)
	if err != nil {
		rt.Fatal(err)
	}
	return s
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// setFlag sets a flag for the length of a test and answers how to restore it. The model
// tests do not run in parallel, so nothing else reads the flag meanwhile.
func setFlag(t *testing.T, name, value string) func() {
	old := flag.Lookup(name).Value.String()
	if err := flag.Set(name, value); err != nil {
		t.Fatal(err)
	}
	return func() { _ = flag.Set(name, old) }
}
