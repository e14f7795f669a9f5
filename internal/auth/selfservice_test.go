package auth_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/memstore"
)

// outbox is a Mailer that keeps what it is given, as the mail queue would.
type outbox struct {
	mu    sync.Mutex
	mails []auth.Mail
}

func (o *outbox) Enqueue(_ context.Context, m auth.Mail) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.mails = append(o.mails, m)
	return nil
}

func (o *outbox) all() []auth.Mail {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]auth.Mail(nil), o.mails...)
}

type ssFixture struct {
	svc   *auth.Service
	store *memstore.Store
	out   *outbox
	admin context.Context
}

func newSelfServiceFixture(t *testing.T, cfg auth.Config) *ssFixture {
	return newSelfServiceFixtureOn(t, cfg, func(st *memstore.Store) auth.Store { return st })
}

// newSelfServiceFixtureOn builds the fixture on the store wrap makes of a fresh memstore
// (the store itself, or a decorator of it), with an admin signed in.
func newSelfServiceFixtureOn(t *testing.T, cfg auth.Config, wrap func(*memstore.Store) auth.Store) *ssFixture {
	t.Helper()
	h, err := argon2id.New(fastParams)
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewFake(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	st := memstore.New(c)
	out := &outbox{}
	cfg.Mailer = out
	cfg.SessionTTL = time.Hour
	f := &ssFixture{svc: auth.NewService(wrap(st), h, c, cfg), store: st, out: out}
	if _, err := f.svc.EnsureUser(t.Context(), "admin", "admin-password", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	ns, err := f.svc.LoginPassword(t.Context(), "admin", "admin-password", "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.Authenticate(t.Context(), ns.Token)
	if err != nil {
		t.Fatal(err)
	}
	f.admin = auth.WithPrincipal(t.Context(), p)
	return f
}

// userWithEmail makes a user and gives them an address.
func (f *ssFixture) userWithEmail(t *testing.T, name, email string) *auth.User {
	t.Helper()
	u, err := f.svc.CreateUser(f.admin, name, name+"-long-password", "")
	if err != nil {
		t.Fatal(err)
	}
	if u, err = f.svc.SetUserEmail(f.admin, u.ID, email); err != nil {
		t.Fatal(err)
	}
	return u
}

// linkToken reads the token out of a mail's link, as the account page does.
func linkToken(t *testing.T, m auth.Mail) string {
	t.Helper()
	_, frag, ok := strings.Cut(m.Link, "#")
	v, err := url.ParseQuery(frag)
	if !ok || err != nil || v.Get("token") == "" {
		t.Fatalf("no token in the link %q", m.Link)
	}
	return v.Get("token")
}

// Every public request for a mail queues exactly one deferred message, and the same one
// whoever has the address: nothing on the request path depends on the store's answer.
func TestMailRequestsQueueTheSameForAnyAddress(t *testing.T) {
	f := newSelfServiceFixture(t, auth.Config{})
	f.userWithEmail(t, "alice", "alice@example.com")
	disabled := f.userWithEmail(t, "bob", "bob@example.com")
	if _, err := f.svc.SetUserDisabled(f.admin, disabled.ID, true); err != nil {
		t.Fatal(err)
	}
	requests := map[string]func(ctx context.Context, account, email string) (string, error){
		"reset": f.svc.RequestPasswordReset, "code": f.svc.RequestSignInCode, "verify": f.svc.RequestEmailVerification,
	}
	for name, request := range requests {
		var shapes []string
		for _, addr := range []string{"alice@example.com", "bob@example.com", "nobody@example.com"} {
			before := len(f.out.all())
			got, err := request(t.Context(), "", addr)
			if err != nil || got != addr {
				t.Fatalf("%s %s: %q, %v", name, addr, got, err)
			}
			mails := f.out.all()[before:]
			if len(mails) != 1 || !mails[0].Deferred || mails[0].To != addr || mails[0].Link != "" {
				t.Fatalf("%s %s queued %+v, want one deferred message to the address", name, addr, mails)
			}
			m := mails[0]
			shapes = append(shapes, fmt.Sprintf("%s|%s|%v", m.Kind, m.ToName, m.Data))
		}
		if shapes[0] != shapes[1] || shapes[1] != shapes[2] {
			t.Errorf("%s: the queued messages differ by address: %q", name, shapes)
		}
	}
	// Malformed addresses are refused before anything is queued.
	before := len(f.out.all())
	for _, bad := range []string{"", "a", "a@b", "x@example.com\r\nBcc: y@example.com", "ａ@exаmple.com", strings.Repeat("a", 300) + "@example.com"} {
		if _, err := f.svc.RequestPasswordReset(t.Context(), "", bad); code(err) != auth.CodeInvalidInput {
			t.Errorf("%q: %v, want BAD_USER_INPUT", bad, err)
		}
	}
	if n := len(f.out.all()) - before; n != 0 {
		t.Errorf("malformed addresses queued %d mails", n)
	}
}

// ExpandMail sends to users who can act on the mail, and to nobody else.
func TestExpandMailDecidesWhoGetsMail(t *testing.T) {
	f := newSelfServiceFixture(t, auth.Config{})
	alice := f.userWithEmail(t, "alice", "alice@example.com")
	bob := f.userWithEmail(t, "bob", "bob@example.com")
	if _, err := f.svc.SetUserDisabled(f.admin, bob.ID, true); err != nil {
		t.Fatal(err)
	}
	expand := func(kind auth.MailKind, account, to string) (auth.Mail, bool) {
		t.Helper()
		m, ok, err := f.svc.ExpandMail(t.Context(), auth.Mail{ID: "req:1", To: to, Kind: kind, Deferred: true, Data: map[string]string{"account": account}})
		if err != nil {
			t.Fatalf("ExpandMail(%s, %s): %v", kind, to, err)
		}
		return m, ok
	}
	for _, kind := range []auth.MailKind{auth.MailResetPassword, auth.MailSignInCode, auth.MailVerifyEmail} {
		for _, c := range []struct{ account, to string }{
			{"", "nobody@example.com"}, {"", "bob@example.com"}, {"no-such-account", "alice@example.com"},
		} {
			if _, ok := expand(kind, c.account, c.to); ok {
				t.Errorf("%s to %s in %q: sent", kind, c.to, c.account)
			}
		}
		m, ok := expand(kind, "", "alice@example.com")
		if !ok || m.ID != "req:1" || m.To != "alice@example.com" || m.Deferred || !strings.HasPrefix(m.Link, "/account/#") {
			t.Errorf("%s to alice: %+v, %v", kind, m, ok)
		}
	}
	// The reset link's token sets the password, once.
	m, _ := expand(auth.MailResetPassword, "default", "alice@example.com")
	if _, err := f.svc.ResetPassword(t.Context(), linkToken(t, m), "alice-brand-new-password", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.LoginPassword(t.Context(), "alice", "alice-brand-new-password", ""); err != nil {
		t.Fatal(err)
	}
	// Verified: no verification mail.
	m, _ = expand(auth.MailVerifyEmail, "", "alice@example.com")
	if _, err := f.svc.ConfirmEmail(t.Context(), linkToken(t, m)); err != nil {
		t.Fatal(err)
	}
	if _, ok := expand(auth.MailVerifyEmail, "", "alice@example.com"); ok {
		t.Error("a verification mail to a verified address")
	}
	_ = alice
}

// Concurrent sign-ups with one address: every answer is the same and nothing is made until
// an address is proven; of the confirmations, the first makes the one owner and the others
// are CONFLICT, leaving no user behind.
func TestSignUpRaceOnOneAddress(t *testing.T) {
	f := newSelfServiceFixture(t, auth.Config{SignUp: auth.SignUpConfig{Policy: auth.SignUpOpen}})
	const n = 12
	answers := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = f.svc.SignUp(t.Context(), auth.SignUpRequest{
				Username: fmt.Sprintf("racer%d", i), Email: "Race@Example.com", Password: "a-long-sign-up-password"})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || answers[i] != "race@example.com" {
			t.Fatalf("sign-up %d: %q, %v", i, answers[i], errs[i])
		}
		if _, err := f.store.UserByUsername(t.Context(), 1, fmt.Sprintf("racer%d", i)); err == nil {
			t.Fatalf("racer%d exists before anyone proved the address", i)
		}
	}
	mails := f.out.all()
	if len(mails) != n {
		t.Fatalf("%d mails, want %d confirmations", len(mails), n)
	}
	// Every confirmation at once: one wins.
	made := make([]*auth.User, n)
	cerrs := make([]error, n)
	tokens := make([]string, n)
	for i, m := range mails {
		tokens[i] = linkToken(t, m)
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			made[i], cerrs[i] = f.svc.ConfirmEmail(t.Context(), tokens[i])
		}()
	}
	wg.Wait()
	owners := 0
	for i := range n {
		switch {
		case cerrs[i] == nil:
			owners++
			if made[i].Email != "race@example.com" || !made[i].EmailVerified {
				t.Errorf("the owner %+v", made[i])
			}
		case code(cerrs[i]) != auth.CodeConflict:
			t.Errorf("confirmation %d: %v, want CONFLICT", i, cerrs[i])
		}
	}
	if owners != 1 {
		t.Fatalf("%d users own the address", owners)
	}
	for i := range n {
		if u, err := f.store.UserByUsername(t.Context(), 1, fmt.Sprintf("racer%d", i)); err == nil && u.Email != "race@example.com" {
			t.Errorf("racer%d exists without the address", i)
		}
	}
	// A sign-up now, with the address taken, makes nothing and mails its owner.
	if _, err := f.svc.SignUp(t.Context(), auth.SignUpRequest{Username: "late", Email: "race@example.com", Password: "a-long-sign-up-password"}); err != nil {
		t.Fatal(err)
	}
	if last := f.out.all()[n]; last.Kind != auth.MailAccountExists {
		t.Fatalf("the mail to a taken address: %s", last.Kind)
	}
}

// An invitation's token is bound to the address it was sent to: changing the address voids it.
func TestInvitationIsBoundToItsAddress(t *testing.T) {
	f := newSelfServiceFixture(t, auth.Config{})
	u, err := f.svc.CreateInvitation(f.admin, auth.Invitation{Username: "ivy", Email: "ivy@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	mails := f.out.all()
	tok := linkToken(t, mails[len(mails)-1])
	// No password signs the invited user in before they set one.
	if _, err := f.svc.LoginPassword(t.Context(), "ivy", "", ""); code(err) != auth.CodeInvalidCredentials {
		t.Fatalf("an invited user with no password: %v", err)
	}
	if _, err := f.svc.SetUserEmail(f.admin, u.ID, "other@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AcceptInvitation(t.Context(), tok, "ivy-chosen-password"); code(err) != auth.CodeTokenInvalid {
		t.Fatalf("an invitation after its address changed: %v", err)
	}
	if _, err := f.svc.CreateInvitation(f.admin, auth.Invitation{Username: "ivy2", Email: "other@example.com"}); code(err) != auth.CodeConflict {
		t.Fatalf("inviting a taken address: %v", err)
	}
	if _, err := f.store.UserByUsername(t.Context(), 1, "ivy2"); err == nil {
		t.Fatal("a refused invitation left its user")
	}
}

// Sign-up is refused before any work by every policy but OPEN, and for unknown accounts.
func TestSignUpPolicyIsChecked(t *testing.T) {
	for _, p := range []auth.SignUpPolicy{"", auth.SignUpClosed, auth.SignUpInvite} {
		f := newSelfServiceFixture(t, auth.Config{SignUp: auth.SignUpConfig{Policy: p}})
		_, err := f.svc.SignUp(t.Context(), auth.SignUpRequest{Username: "x", Email: "x@example.com", Password: "a-long-sign-up-password"})
		if code(err) != auth.CodeForbidden || len(f.out.all()) != 0 {
			t.Errorf("policy %q: %v, %d mails", p, err, len(f.out.all()))
		}
	}
	f := newSelfServiceFixture(t, auth.Config{SignUp: auth.SignUpConfig{Policy: auth.SignUpOpen, AllowedDomains: []string{"example.com"}}})
	if _, err := f.svc.SignUp(t.Context(), auth.SignUpRequest{Account: "nowhere", Username: "x", Email: "x@example.com", Password: "a-long-sign-up-password"}); code(err) != auth.CodeForbidden {
		t.Errorf("unknown account: %v", err)
	}
	if _, err := f.svc.SignUp(t.Context(), auth.SignUpRequest{Username: "x", Email: "x@sub.example.com", Password: "a-long-sign-up-password"}); code(err) != auth.CodeInvalidInput {
		t.Errorf("a domain off the list: %v", err)
	}
}

// With TOTP on, a right emailed code answers OTP_REQUIRED and stays good, so the client can
// send it again with the TOTP code; a wrong emailed code never reaches the second factor.
func TestEmailCodeSignInAsksForTheSecondFactor(t *testing.T) {
	out := &outbox{}
	f, dave := mfaFixture(t, auth.Config{Mailer: out})
	admin := f.as(t, "admin", "admin-password")
	if _, err := f.svc.SetUserEmail(admin, auth.PrincipalFrom(dave).User.ID, "dave@example.com"); err != nil {
		t.Fatal(err)
	}
	secret, _ := enrol(t, f, dave)
	f.clock.Advance(time.Minute) // past the step the enrolment used
	if _, err := f.svc.RequestSignInCode(t.Context(), "", "dave@example.com"); err != nil {
		t.Fatal(err)
	}
	mails := out.all()
	m, ok, err := f.svc.ExpandMail(t.Context(), mails[len(mails)-1])
	if err != nil || !ok {
		t.Fatalf("expand: %v %v", ok, err)
	}
	c := m.Data["code"]
	in := auth.EmailCodeLogin{Email: "dave@example.com", Code: c}
	if _, err := f.svc.LoginEmailCode(t.Context(), auth.EmailCodeLogin{Email: "dave@example.com", Code: wrongCode(c)}); code(err) != auth.CodeTokenInvalid {
		t.Fatalf("a wrong code with TOTP on: %v, want TOKEN_INVALID (no hint of the second factor)", err)
	}
	if _, err := f.svc.LoginEmailCode(t.Context(), in); code(err) != auth.CodeOTPRequired {
		t.Fatalf("the right code without a TOTP code: %v", err)
	}
	in.OTP = wrongCode(codeAt(t, secret, f.clock.Now()))
	if _, err := f.svc.LoginEmailCode(t.Context(), in); code(err) != auth.CodeOTPRequired {
		t.Fatalf("the right code with a wrong TOTP code: %v", err)
	}
	in.OTP = codeAt(t, secret, f.clock.Now())
	ns, err := f.svc.LoginEmailCode(t.Context(), in)
	if err != nil || ns.Session.Method != auth.MethodEmailCode {
		t.Fatalf("the right code with the TOTP code: %v", err)
	}
	if _, err := f.svc.LoginEmailCode(t.Context(), in); code(err) != auth.CodeTokenInvalid {
		t.Fatalf("the code again after the sign-in: %v", err)
	}
}
