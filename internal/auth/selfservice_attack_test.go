package auth_test

// Attacks on the self-service flows: each test is a way in that was found open, and stays as
// the proof that it is shut.

import (
	"context"
	"sync"
	"testing"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/memstore"
)

// hookStore is a store in which a test runs something at a chosen point of another
// operation, once: the interleaving of a race, made certain.
type hookStore struct {
	*memstore.Store
	mu               sync.Mutex
	beforeCreateUser func()
	beforeSession    func()
}

func (h *hookStore) take(f *func()) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := *f
	*f = nil
	return g
}

func (h *hookStore) CreateUser(ctx context.Context, u *auth.User) error {
	if g := h.take(&h.beforeCreateUser); g != nil {
		g()
	}
	return h.Store.CreateUser(ctx, u)
}

func (h *hookStore) CreateSession(ctx context.Context, s *auth.Session) error {
	if g := h.take(&h.beforeSession); g != nil {
		g()
	}
	return h.Store.CreateSession(ctx, s)
}

// newHookedFixture is newSelfServiceFixture on a hookStore.
func newHookedFixture(t *testing.T, cfg auth.Config) (*ssFixture, *hookStore) {
	t.Helper()
	var hs *hookStore
	f := newSelfServiceFixtureOn(t, cfg, func(st *memstore.Store) auth.Store {
		hs = &hookStore{Store: st}
		return hs
	})
	return f, hs
}

// expandLast expands the last queued mail as the mail worker would.
func (f *ssFixture) expandLast(t *testing.T) auth.Mail {
	t.Helper()
	mails := f.out.all()
	m, ok, err := f.svc.ExpandMail(t.Context(), mails[len(mails)-1])
	if err != nil || !ok {
		t.Fatalf("expand %+v: %v, %v", mails[len(mails)-1], ok, err)
	}
	return m
}

func (f *ssFixture) signedIn(t *testing.T, username, password string) context.Context {
	t.Helper()
	ns, err := f.svc.LoginPassword(t.Context(), username, password, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.Authenticate(t.Context(), ns.Token)
	if err != nil {
		t.Fatal(err)
	}
	return auth.WithPrincipal(t.Context(), p)
}

// signUpToken signs up and answers the token of the confirmation mail.
func (f *ssFixture) signUpToken(t *testing.T, req auth.SignUpRequest) string {
	t.Helper()
	if _, err := f.svc.SignUp(t.Context(), req); err != nil {
		t.Fatalf("sign up %s: %v", req.Username, err)
	}
	mails := f.out.all()
	return linkToken(t, mails[len(mails)-1])
}

// A sign-up whose completion loses the race for its address (another one completes with
// the same address between this one's user and its claim) takes its user back and says so.
// It used to read the id of the user it had made from the nil answer of the failed claim: a
// panic, and the user left behind with the username taken and no address.
func TestSignUpLosingTheAddressRaceTakesItsUserBack(t *testing.T) {
	f, hs := newHookedFixture(t, auth.Config{SignUp: auth.SignUpConfig{Policy: auth.SignUpOpen}})
	late := f.signUpToken(t, auth.SignUpRequest{Username: "late", Email: "race@example.com", Password: "a-long-sign-up-password"})
	early := f.signUpToken(t, auth.SignUpRequest{Username: "early", Email: "race@example.com", Password: "a-long-sign-up-password"})
	hs.beforeCreateUser = func() {
		// The loser is about to make its user; the winner completes first.
		if _, err := f.svc.ConfirmEmail(t.Context(), early); err != nil {
			t.Errorf("the winning sign-up: %v", err)
		}
	}
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("the losing sign-up panicked: %v", r)
			}
		}()
		_, err = f.svc.ConfirmEmail(t.Context(), late)
	}()
	if code(err) != auth.CodeConflict {
		t.Fatalf("the losing completion: %v, want CONFLICT", err)
	}
	if _, err := f.store.UserByUsername(t.Context(), 1, "late"); err == nil {
		t.Fatal("the losing sign-up left its user behind")
	}
	if u, err := f.store.UserByUsername(t.Context(), 1, "early"); err != nil || u.Email != "race@example.com" || !u.EmailVerified {
		t.Fatalf("the winner: %+v, %v", u, err)
	}
}

// idLimiter records the identifiers a Limiter is asked about, per attempt.
type idLimiter struct {
	mu  sync.Mutex
	ids map[auth.Attempt]map[string]bool
}

func (l *idLimiter) Check(_ context.Context, a auth.Attempt, _, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ids == nil {
		l.ids = map[auth.Attempt]map[string]bool{}
	}
	if l.ids[a] == nil {
		l.ids[a] = map[string]bool{}
	}
	l.ids[a][id] = true
	return nil
}

func (l *idLimiter) Record(context.Context, auth.Attempt, string, string, bool) error { return nil }

// Every spelling of an address that signs in as one user is counted as one identifier: the
// per-account limits (login:id, login:ip+id) must not be escaped by writing the address
// in another case, with spaces around it, or in full-width characters, each of which used
// to get a fresh bucket while reaching the same user's password.
func TestPasswordSignInByEmailCountsEverySpellingAsOne(t *testing.T) {
	lim := &idLimiter{}
	f := newSelfServiceFixture(t, auth.Config{Limiter: lim})
	f.userWithEmail(t, "alice", "alice@example.com")
	spellings := []string{"alice@example.com", "Alice@Example.com", "ALICE@EXAMPLE.COM", " alice@example.com ", "ａｌｉｃｅ@example.com"}
	for _, s := range spellings {
		if _, err := f.svc.LoginPassword(t.Context(), s, "alice-long-password", ""); err != nil {
			t.Fatalf("sign-in as %q: %v (each spelling reaches alice)", s, err)
		}
	}
	ids := lim.ids[auth.AttemptPassword]
	delete(ids, "admin") // the fixture's own sign-in
	if len(ids) != 1 {
		t.Fatalf("the spellings of one address were counted under %d identifiers %v: each a fresh budget of guesses", len(ids), ids)
	}
}

// An email change voids what was mailed to the old address: a reset link or a sign-in code
// sent there must not take the account after its owner has moved away from that mailbox
// (the usual reason to change the address is losing the old one).
func TestEmailChangeVoidsResetLinksAndCodesOfTheOldAddress(t *testing.T) {
	f := newSelfServiceFixture(t, auth.Config{})
	f.userWithEmail(t, "alice", "old@example.com")
	// The holder of the old mailbox asks for both while it is still alice's.
	if _, err := f.svc.RequestPasswordReset(t.Context(), "", "old@example.com"); err != nil {
		t.Fatal(err)
	}
	reset := linkToken(t, f.expandLast(t))
	if _, err := f.svc.RequestSignInCode(t.Context(), "", "old@example.com"); err != nil {
		t.Fatal(err)
	}
	code := f.expandLast(t).Data["code"]
	// Alice moves to a new address, confirmed from the new mailbox.
	alice := f.signedIn(t, "alice", "alice-long-password")
	if _, err := f.svc.ChangeEmail(alice, "new@example.com", "alice-long-password"); err != nil {
		t.Fatal(err)
	}
	mails := f.out.all()
	var confirm string
	for _, m := range mails {
		if m.Kind == auth.MailVerifyEmail && m.To == "new@example.com" {
			confirm = linkToken(t, m)
		}
	}
	if _, err := f.svc.ConfirmEmail(t.Context(), confirm); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.LoginEmailCode(t.Context(), auth.EmailCodeLogin{Email: "new@example.com", Code: code}); err == nil {
		t.Error("a sign-in code mailed to the old address signed in through the new one")
	}
	if _, err := f.svc.ResetPassword(t.Context(), reset, "attacker-chosen-password", ""); err == nil {
		t.Error("a reset link mailed to the old address set the password after the address changed")
	}
}

// A password reset (or change) voids a pending change of address: whoever started it with
// the old password, which the reset is there to take away, must not finish it afterwards
// and so own the address that every reset goes to.
func TestPasswordResetVoidsPendingEmailChange(t *testing.T) {
	f := newSelfServiceFixture(t, auth.Config{})
	f.userWithEmail(t, "alice", "alice@example.com")
	// The attacker knows alice's password for a while, and starts moving her address.
	stolen := f.signedIn(t, "alice", "alice-long-password")
	if _, err := f.svc.ChangeEmail(stolen, "attacker@evil.example", "alice-long-password"); err != nil {
		t.Fatal(err)
	}
	var confirm string
	for _, m := range f.out.all() {
		if m.To == "attacker@evil.example" {
			confirm = linkToken(t, m)
		}
	}
	// Alice sees the notice in her mailbox and resets her password.
	if _, err := f.svc.RequestPasswordReset(t.Context(), "", "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ResetPassword(t.Context(), linkToken(t, f.expandLast(t)), "alice-new-long-password", ""); err != nil {
		t.Fatal(err)
	}
	if u, err := f.svc.ConfirmEmail(t.Context(), confirm); err == nil {
		t.Fatalf("the change started before the reset went through: alice's address is now %q", u.Email)
	}
}

// A sign-in by emailed code that is under way when the password is reset is refused, as a
// password sign-in is: a reset ends every session, those of sign-ins still running included.
func TestEmailCodeSignInRacingAResetIsRefused(t *testing.T) {
	f, hs := newHookedFixture(t, auth.Config{})
	f.userWithEmail(t, "alice", "alice@example.com")
	if _, err := f.svc.RequestSignInCode(t.Context(), "", "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	emailed := f.expandLast(t).Data["code"]
	if _, err := f.svc.RequestPasswordReset(t.Context(), "", "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	reset := linkToken(t, f.expandLast(t))
	hs.beforeSession = func() {
		// The code is spent and the session about to be saved: alice resets now.
		if _, err := f.svc.ResetPassword(t.Context(), reset, "alice-new-long-password", ""); err != nil {
			t.Errorf("reset: %v", err)
		}
	}
	ns, err := f.svc.LoginEmailCode(t.Context(), auth.EmailCodeLogin{Email: "alice@example.com", Code: emailed})
	if err == nil {
		if _, aerr := f.svc.Authenticate(t.Context(), ns.Token); aerr == nil {
			t.Fatal("a session from a code sign-in racing the reset outlived the reset")
		}
	} else if code(err) != auth.CodeInvalidCredentials {
		t.Fatalf("the racing sign-in: %v, want INVALID_CREDENTIALS", err)
	}
}

// A sign-in tries the username first and the address second, so a stranger who signs up
// with someone's address as their username would stop that someone signing in by address
// (their password is checked against the stranger's, and fails). Sign-up refuses such a
// username; one's own address stays a valid username.
func TestSignUpRefusesAUsernameThatIsSomeoneElsesAddress(t *testing.T) {
	f := newSelfServiceFixture(t, auth.Config{SignUp: auth.SignUpConfig{Policy: auth.SignUpOpen}})
	f.userWithEmail(t, "alice", "alice@example.com")
	for _, name := range []string{"alice@example.com", "Alice@Example.com"} {
		_, err := f.svc.SignUp(t.Context(), auth.SignUpRequest{Username: name, Email: "mallory@evil.example", Password: "mallory-long-password"})
		if code(err) != auth.CodeInvalidInput {
			t.Errorf("sign-up as %q with another address: %v, want BAD_USER_INPUT", name, err)
		}
	}
	if _, err := f.svc.LoginPassword(t.Context(), "Alice@Example.com", "alice-long-password", ""); err != nil {
		t.Fatalf("alice by her address: %v", err)
	}
	if _, err := f.svc.SignUp(t.Context(), auth.SignUpRequest{Username: "Bob@Example.com", Email: "bob@example.com", Password: "bob-long-password-1"}); err != nil {
		t.Fatalf("sign-up with one's own address as username: %v", err)
	}
}

// A sign-up racing the deletion of its account leaves no user in the deleted account: as
// CreateUser does, it checks the account after writing the user, and takes the user back.
func TestSignUpRacingDeleteAccountLeavesNoUser(t *testing.T) {
	f, hs := newHookedFixture(t, auth.Config{})
	a, err := f.svc.CreateAccount(f.admin, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetAccountSignUpPolicy(f.admin, a.ID, auth.SignUpOpen); err != nil {
		t.Fatal(err)
	}
	tok := f.signUpToken(t, auth.SignUpRequest{Account: "acme", Username: "late", Email: "late@example.com", Password: "a-long-sign-up-password"})
	hs.beforeCreateUser = func() {
		if _, err := f.svc.DeleteAccount(f.admin, a.ID, true); err != nil {
			t.Errorf("delete account: %v", err)
		}
	}
	_, err = f.svc.ConfirmEmail(t.Context(), tok)
	if code(err) != auth.CodeForbidden {
		t.Errorf("a sign-up completed into an account deleted meanwhile: %v, want FORBIDDEN (as for no such account)", err)
	}
	if u, err := f.store.UserByUsername(t.Context(), a.ID, "late"); err == nil {
		t.Fatalf("user %d outlived its account", u.ID)
	}
}
