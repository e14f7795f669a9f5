package auth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/authgraph/authgraph/internal/auth"
)

// codeAt is what an authenticator app shows at time at: RFC 6238, made by pquerna/otp.
func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mfaFixture is a fixture with a member, dave, signed in (his context outlives the clock moves
// below: the principal is not looked up again).
func mfaFixture(t *testing.T, cfg auth.Config) (*fixture, context.Context) {
	t.Helper()
	f := newFixture(t, fastParams)
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = time.Hour
	}
	f.svc = auth.NewService(f.store, f.hasher, f.clock, cfg)
	admin := f.as(t, "admin", "admin-password")
	if _, err := f.svc.CreateUser(admin, "dave", "dave-password", ""); err != nil {
		t.Fatal(err)
	}
	return f, f.as(t, "dave", "dave-password")
}

// enrol runs enableTotp and confirmTotp for the user of ctx, whose password is, as throughout
// these tests, "<username>-password", and answers the secret and the recovery codes. The
// confirming code uses up the current step.
func enrol(t *testing.T, f *fixture, ctx context.Context) (string, []string) {
	t.Helper()
	enr, err := f.svc.EnableTOTP(ctx, auth.PrincipalFrom(ctx).User.Username+"-password")
	if err != nil {
		t.Fatal(err)
	}
	codes, err := f.svc.ConfirmTOTP(ctx, codeAt(t, enr.Secret, f.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return enr.Secret, codes
}

func (f *fixture) loginOTP(username, password, code string) (*auth.NewSession, error) {
	return f.svc.Login(context.Background(), auth.PasswordLogin{Username: username, Password: password, OTP: code})
}

func wantOTPRequired(t *testing.T, what string, ns *auth.NewSession, err error) {
	t.Helper()
	if code(err) != auth.CodeOTPRequired || ns != nil {
		t.Fatalf("%s: %v (session %v), want OTP_REQUIRED and no session", what, err, ns)
	}
	if !strings.Contains(err.Error(), "missing or invalid") {
		t.Fatalf("%s: message %q does not say the code was missing or invalid", what, err)
	}
}

func TestTOTPEnrolment(t *testing.T) {
	f, dave := mfaFixture(t, auth.Config{})
	if on, err := f.svc.TOTPEnabled(dave, auth.PrincipalFrom(dave).User.ID); err != nil || on {
		t.Fatalf("TOTPEnabled before enrolment = %v, %v", on, err)
	}
	if _, err := f.svc.ConfirmTOTP(dave, "123456"); code(err) != auth.CodeConflict {
		t.Fatalf("confirm without enrolment: %v", err)
	}
	enr, err := f.svc.EnableTOTP(dave, "dave-password")
	if err != nil {
		t.Fatal(err)
	}
	key, err := otp.NewKeyFromURL(enr.URI)
	if err != nil {
		t.Fatalf("URI %q: %v", enr.URI, err)
	}
	if !strings.HasPrefix(enr.URI, "otpauth://totp/") || key.Issuer() != "authgraph" || key.AccountName() != "dave" ||
		key.Secret() != enr.Secret || key.Period() != 30 || key.Digits() != otp.DigitsSix || key.Algorithm() != otp.AlgorithmSHA1 {
		t.Fatalf("URI %q: issuer %q, account %q", enr.URI, key.Issuer(), key.AccountName())
	}
	if len(enr.Secret) != 32 { // 20 bytes in base32
		t.Fatalf("secret %d characters, want 32 (160 bits)", len(enr.Secret))
	}
	if !enr.ExpiresAt.Equal(f.clock.Now().Add(15 * time.Minute)) {
		t.Fatalf("enrolment expires at %v", enr.ExpiresAt)
	}
	// Not on until confirmed: logins need no code yet.
	if _, err := f.loginOTP("dave", "dave-password", ""); err != nil {
		t.Fatalf("login during enrolment: %v", err)
	}

	now := f.clock.Now()
	for name, c := range map[string]string{
		"a wrong code":        wrongCode(codeAt(t, enr.Secret, now)),
		"a code 2 steps away": codeAt(t, enr.Secret, now.Add(-60*time.Second)),
		"not digits":          "abcdef",
		"empty":               "",
	} {
		if _, err := f.svc.ConfirmTOTP(dave, c); code(err) != auth.CodeOTPRequired {
			t.Fatalf("confirm with %s: %v", name, err)
		}
	}
	codes, err := f.svc.ConfirmTOTP(dave, codeAt(t, enr.Secret, now))
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes, want 10", len(codes))
	}
	format := regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`) // 80 bits
	seen := map[string]bool{}
	for _, c := range codes {
		if !format.MatchString(c) || seen[c] {
			t.Fatalf("recovery code %q malformed or repeated", c)
		}
		seen[c] = true
	}
	if on, err := f.svc.TOTPEnabled(dave, auth.PrincipalFrom(dave).User.ID); err != nil || !on {
		t.Fatalf("TOTPEnabled after confirmation = %v, %v", on, err)
	}
	if _, err := f.svc.ConfirmTOTP(dave, codeAt(t, enr.Secret, now)); code(err) != auth.CodeConflict {
		t.Fatalf("confirming twice: %v", err)
	}
	if _, err := f.svc.EnableTOTP(dave, "dave-password"); code(err) != auth.CodeConflict {
		t.Fatalf("enableTotp while on: %v", err)
	}
	// The code that confirmed used up its step: it cannot also sign in.
	ns, err := f.loginOTP("dave", "dave-password", codeAt(t, enr.Secret, now))
	wantOTPRequired(t, "the confirming code at login", ns, err)
}

func TestTOTPEnrolmentIsReplacedAndExpires(t *testing.T) {
	f, dave := mfaFixture(t, auth.Config{})
	first, err := f.svc.EnableTOTP(dave, "dave-password")
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.svc.EnableTOTP(dave, "dave-password")
	if err != nil || second.Secret == first.Secret {
		t.Fatalf("second enrolment: %v, same secret %v", err, second.Secret == first.Secret)
	}
	if _, err := f.svc.ConfirmTOTP(dave, codeAt(t, first.Secret, f.clock.Now())); code(err) != auth.CodeOTPRequired {
		t.Fatalf("a code of the replaced secret: %v", err)
	}
	f.clock.Advance(15 * time.Minute)
	if _, err := f.svc.ConfirmTOTP(dave, codeAt(t, second.Secret, f.clock.Now())); code(err) != auth.CodeConflict {
		t.Fatalf("an expired enrolment: %v", err)
	}
	for name, call := range map[string]func(context.Context) error{
		"enableTotp":  func(ctx context.Context) error { _, err := f.svc.EnableTOTP(ctx, "dave-password"); return err },
		"confirmTotp": func(ctx context.Context) error { _, err := f.svc.ConfirmTOTP(ctx, "123456"); return err },
		"disableTotp": func(ctx context.Context) error { return f.svc.DisableTOTP(ctx, "", "x") },
	} {
		if err := call(context.Background()); code(err) != auth.CodeUnauthenticated {
			t.Errorf("%s without a session: %v", name, err)
		}
	}
}

func TestTOTPLogin(t *testing.T) {
	f, dave := mfaFixture(t, auth.Config{})
	secret, _ := enrol(t, f, dave)

	// No code: OTP_REQUIRED and no session, but only once the password is right.
	ns, err := f.loginOTP("dave", "dave-password", "")
	wantOTPRequired(t, "no code", ns, err)
	f.clock.Advance(30 * time.Second)
	good := codeAt(t, secret, f.clock.Now())
	for _, pass := range []string{"wrong-password", ""} {
		if _, err := f.loginOTP("dave", pass, good); code(err) != auth.CodeInvalidCredentials {
			t.Fatalf("a wrong password with a good code: %v, want INVALID_CREDENTIALS", err)
		}
	}
	if _, err := f.loginOTP("dave", "wrong-password", ""); code(err) != auth.CodeInvalidCredentials {
		t.Fatalf("a wrong password without a code: %v", err)
	}
	ns, err = f.loginOTP("dave", "dave-password", wrongCode(good))
	wantOTPRequired(t, "a wrong code", ns, err)

	// A good code works once: the wrong-password attempts above did not use it up.
	ns, err = f.loginOTP("dave", "dave-password", good)
	if err != nil || ns.Token == "" {
		t.Fatalf("a good code: %v", err)
	}
	ns, err = f.loginOTP("dave", "dave-password", good)
	wantOTPRequired(t, "the same code again (replay)", ns, err)
	if !strings.Contains(err.Error(), "wait for the next code") {
		t.Fatalf("a replayed code: %q does not say to wait for the next code", err)
	}
	// A wrong code never says so: only a right code of a used step does.
	ns, err = f.loginOTP("dave", "dave-password", wrongCode(good))
	wantOTPRequired(t, "a wrong code after a sign-in", ns, err)
	if strings.Contains(err.Error(), "wait") {
		t.Fatalf("a wrong code: %q hints at a used code", err)
	}
	// Nor does a used code with a wrong password: that is INVALID_CREDENTIALS, as always.
	if _, err := f.loginOTP("dave", "wrong-password", good); code(err) != auth.CodeInvalidCredentials {
		t.Fatalf("a used code with a wrong password: %v", err)
	}

	// The next step's code works; then the older one does not, though it is within the skew.
	f.clock.Advance(30 * time.Second)
	if _, err := f.loginOTP("dave", "dave-password", codeAt(t, secret, f.clock.Now())); err != nil {
		t.Fatalf("the next step's code: %v", err)
	}
	ns, err = f.loginOTP("dave", "dave-password", codeAt(t, secret, f.clock.Now().Add(-30*time.Second)))
	wantOTPRequired(t, "an older step than the last used", ns, err)

	// Skew: one step either side is accepted, two are not.
	f.clock.Advance(10 * time.Minute)
	now := f.clock.Now()
	for _, off := range []time.Duration{-60 * time.Second, 60 * time.Second} {
		ns, err := f.loginOTP("dave", "dave-password", codeAt(t, secret, now.Add(off)))
		wantOTPRequired(t, "a code two steps away", ns, err)
	}
	if _, err := f.loginOTP("dave", "dave-password", codeAt(t, secret, now.Add(-30*time.Second))); err != nil {
		t.Fatalf("a code one step behind: %v", err)
	}
	if _, err := f.loginOTP("dave", "dave-password", codeAt(t, secret, now.Add(30*time.Second))); err != nil {
		t.Fatalf("a code one step ahead: %v", err)
	}
	// Having used the step ahead, the current step's code is a step at or before it.
	ns, err = f.loginOTP("dave", "dave-password", codeAt(t, secret, now))
	wantOTPRequired(t, "the current step after the next was used", ns, err)
	if !strings.Contains(err.Error(), "wait for the next code") {
		t.Fatalf("a code of a step before the last used: %q", err)
	}

	// Codes as apps show them, with a space in the middle.
	f.clock.Advance(time.Minute)
	c := codeAt(t, secret, f.clock.Now())
	if _, err := f.loginOTP("dave", "dave-password", c[:3]+" "+c[3:]); err != nil {
		t.Fatalf("a code with a space: %v", err)
	}
	if _, err := f.loginOTP("dave", "dave-password", strings.Repeat("1", 100000)); code(err) != auth.CodeOTPRequired {
		t.Fatalf("a huge code: %v", err)
	}
}

func TestRecoveryCodes(t *testing.T) {
	f, dave := mfaFixture(t, auth.Config{})
	_, codes := enrol(t, f, dave)
	uid := auth.PrincipalFrom(dave).User.ID

	if _, err := f.loginOTP("dave", "dave-password", codes[0]); err != nil {
		t.Fatalf("a recovery code: %v", err)
	}
	ns, err := f.loginOTP("dave", "dave-password", codes[0])
	wantOTPRequired(t, "a used recovery code", ns, err)
	// Typed loosely: upper case, without hyphens, with spaces.
	loose := strings.ToUpper(strings.ReplaceAll(codes[1], "-", " "))
	if _, err := f.loginOTP("dave", "dave-password", loose); err != nil {
		t.Fatalf("recovery code %q: %v", loose, err)
	}
	if _, err := f.loginOTP("dave", "wrong-password", codes[2]); code(err) != auth.CodeInvalidCredentials {
		t.Fatalf("a recovery code with a wrong password: %v", err)
	}
	tt, err := f.store.TOTP(context.Background(), uid)
	if err != nil || tt.RecoveryCodes != 8 {
		t.Fatalf("recovery codes left: %+v %v, want 8 (the wrong password used none)", tt, err)
	}

	// Stored as SHA-256 digests only: no code in any form is in the store.
	for _, c := range codes {
		plain := strings.ReplaceAll(c, "-", "")
		if bytes.Contains(tt.Secret, []byte(plain)) {
			t.Fatal("a recovery code is stored in plaintext")
		}
	}

	// Concurrent logins with one recovery code: exactly one session.
	if n := concurrentLogins(t, f, codes[3]); n != 1 {
		t.Fatalf("%d of 20 concurrent logins with one recovery code succeeded, want 1", n)
	}
}

func TestTOTPReplayRace(t *testing.T) {
	f, dave := mfaFixture(t, auth.Config{})
	secret, _ := enrol(t, f, dave)
	f.clock.Advance(30 * time.Second)
	if n := concurrentLogins(t, f, codeAt(t, secret, f.clock.Now())); n != 1 {
		t.Fatalf("%d of 20 concurrent logins with one code succeeded, want 1", n)
	}
}

func concurrentLogins(t *testing.T, f *fixture, code string) int {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		wins  int
		start = make(chan struct{})
	)
	for range 20 {
		wg.Go(func() {
			<-start
			_, err := f.loginOTP("dave", "dave-password", code)
			mu.Lock()
			defer mu.Unlock()
			switch auth.ErrorCode(err) {
			case "":
				wins++
			case auth.CodeOTPRequired:
			default:
				t.Errorf("login: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	return wins
}

func TestUserKeyLoginIgnoresTOTP(t *testing.T) {
	f, dave := mfaFixture(t, auth.Config{})
	nk, err := f.svc.CreateUserKey(dave, "ci", nil)
	if err != nil {
		t.Fatal(err)
	}
	enrol(t, f, dave)
	if _, err := f.svc.LoginUserKey(context.Background(), nk.Key.ID, nk.Secret, ""); err != nil {
		t.Fatalf("a user key session with TOTP on: %v", err)
	}
}

func TestDisableTOTP(t *testing.T) {
	f, dave := mfaFixture(t, auth.Config{})
	uid := auth.PrincipalFrom(dave).User.ID
	if err := f.svc.DisableTOTP(dave, "", "dave-password"); code(err) != auth.CodeConflict {
		t.Fatalf("disable while off: %v", err)
	}
	secret, codes := enrol(t, f, dave)
	f.clock.Advance(30 * time.Second)
	good := codeAt(t, secret, f.clock.Now())
	for name, tt := range map[string]struct {
		code, password string
		want           auth.Code
	}{
		"neither":            {"", "", auth.CodeInvalidInput},
		"both":               {good, "dave-password", auth.CodeInvalidInput},
		"a wrong password":   {"", "not-daves", auth.CodeInvalidCredentials},
		"a wrong code":       {wrongCode(good), "", auth.CodeOTPRequired},
		"a replayed code":    {codeAt(t, secret, f.clock.Now().Add(-30*time.Second)), "", auth.CodeOTPRequired},
		"an unknown rescue":  {"aaaa-bbbb-cccc-dddd", "", auth.CodeOTPRequired},
		"a huge password":    {"", strings.Repeat("p", 10000), auth.CodeInvalidCredentials},
		"a non-code garbage": {"not a code", "", auth.CodeOTPRequired},
	} {
		if err := f.svc.DisableTOTP(dave, tt.code, tt.password); code(err) != tt.want {
			t.Fatalf("disable with %s: %v, want %s", name, err, tt.want)
		}
	}
	if on, _ := f.svc.TOTPEnabled(dave, uid); !on {
		t.Fatal("a failed disable turned TOTP off")
	}

	// With a current code.
	if err := f.svc.DisableTOTP(dave, good, ""); err != nil {
		t.Fatalf("disable with a code: %v", err)
	}
	if on, _ := f.svc.TOTPEnabled(dave, uid); on {
		t.Fatal("TOTP still on")
	}
	if _, err := f.loginOTP("dave", "dave-password", ""); err != nil {
		t.Fatalf("login after disabling: %v", err)
	}

	// With the password, after enrolling again; the old recovery codes are gone.
	_, newCodes := enrol(t, f, dave)
	if ns, err := f.loginOTP("dave", "dave-password", codes[0]); code(err) != auth.CodeOTPRequired {
		t.Fatalf("an old recovery code after re-enrolment: %v %v", ns, err)
	}
	if err := f.svc.DisableTOTP(dave, "", "dave-password"); err != nil {
		t.Fatalf("disable with the password: %v", err)
	}
	if err := f.svc.DisableTOTP(dave, "", "dave-password"); code(err) != auth.CodeConflict {
		t.Fatalf("disabling twice: %v", err)
	}

	// With a recovery code, which is used up.
	_, newCodes = enrol(t, f, dave)
	if err := f.svc.DisableTOTP(dave, newCodes[0], ""); err != nil {
		t.Fatalf("disable with a recovery code: %v", err)
	}
}

func TestTOTPEnabledVisibility(t *testing.T) {
	f, dave := mfaFixture(t, auth.Config{})
	admin := f.as(t, "admin", "admin-password")
	adminID := auth.PrincipalFrom(admin).User.ID
	daveID := auth.PrincipalFrom(dave).User.ID
	if _, err := f.svc.TOTPEnabled(dave, adminID); code(err) != auth.CodeNotFound {
		t.Fatalf("a member asking about another user: %v", err)
	}
	enrol(t, f, dave)
	if on, err := f.svc.TOTPEnabled(admin, daveID); err != nil || !on {
		t.Fatalf("an admin asking about dave: %v %v", on, err)
	}
}

// With AUTHGRAPH_SECRET_KEY, the stored secret is AES-256-GCM ciphertext bound to its user;
// without it, it is the plaintext (and adding a key later still reads it).
func TestTOTPSecretAtRest(t *testing.T) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	f, dave := mfaFixture(t, auth.Config{SecretKey: key})
	if !f.svc.EncryptsSecrets() {
		t.Fatal("EncryptsSecrets with a key = false")
	}
	uid := auth.PrincipalFrom(dave).User.ID
	enr, err := f.svc.EnableTOTP(dave, "dave-password")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := otp.NewKeyFromURL(enr.URI)
	pending, err := f.store.PendingTOTP(context.Background(), uid)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(pending.Secret, []byte(enr.Secret)) || bytes.Contains(bytes.ToUpper(pending.Secret), []byte(raw.Secret())) {
		t.Fatal("the TOTP secret is stored in plaintext although a key is configured")
	}

	// Sealed for dave, it does not open for anyone else: copied onto the admin's enrolment,
	// confirming fails as an internal error (never as a wrong code, never by working).
	admin := f.as(t, "admin", "admin-password")
	adminID := auth.PrincipalFrom(admin).User.ID
	if err := f.store.SetPendingTOTP(context.Background(), adminID, pending); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ConfirmTOTP(admin, codeAt(t, enr.Secret, f.clock.Now())); code(err) != auth.CodeInternal {
		t.Fatalf("a secret moved to another user: %v, want an internal error", err)
	}

	if _, err := f.svc.ConfirmTOTP(dave, codeAt(t, enr.Secret, f.clock.Now())); err != nil {
		t.Fatal(err)
	}
	// Without the key, the encrypted secret cannot be used: an internal error, logged.
	noKey := auth.NewService(f.store, f.hasher, f.clock, auth.Config{})
	f.clock.Advance(30 * time.Second)
	if _, err := noKey.Login(context.Background(), auth.PasswordLogin{Username: "dave", Password: "dave-password", OTP: codeAt(t, enr.Secret, f.clock.Now())}); code(err) != auth.CodeInternal {
		t.Fatalf("an encrypted secret without the key: %v", err)
	}

	// The other way round: a secret stored without a key keeps working once one is set.
	g, erin := mfaFixture(t, auth.Config{})
	if g.svc.EncryptsSecrets() {
		t.Fatal("EncryptsSecrets without a key = true")
	}
	secret, _ := enrol(t, g, erin)
	tt, _ := g.store.TOTP(context.Background(), auth.PrincipalFrom(erin).User.ID)
	if !bytes.Contains(tt.Secret, []byte(secret)) {
		t.Fatal("without a key the secret is expected in plaintext; is the test looking at the right record?")
	}
	keyed := auth.NewService(g.store, g.hasher, g.clock, auth.Config{SecretKey: key})
	g.clock.Advance(30 * time.Second)
	if _, err := keyed.Login(context.Background(), auth.PasswordLogin{Username: "dave", Password: "dave-password", OTP: codeAt(t, secret, g.clock.Now())}); err != nil {
		t.Fatalf("a plaintext secret after a key was configured: %v", err)
	}
}

// wrongCode answers another six-digit code.
func wrongCode(c string) string {
	b := []byte(c)
	b[5] = '0' + (b[5]-'0'+1)%10
	return string(b)
}
