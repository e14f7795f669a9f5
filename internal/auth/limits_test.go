package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/memstore"
)

// fakeLimiter records what the service asks and answers what the test says.
type fakeLimiter struct {
	mu       sync.Mutex
	checks   []string // "attempt ip identifier"
	records  []string // "attempt ip identifier ok"
	checkErr error
	recErr   error
}

func (l *fakeLimiter) Check(_ context.Context, a auth.Attempt, ip, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checks = append(l.checks, fmt.Sprint(a, " ", ip, " ", id))
	return l.checkErr
}

func (l *fakeLimiter) Record(_ context.Context, a auth.Attempt, ip, id string, ok bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, fmt.Sprint(a, " ", ip, " ", id, " ", ok))
	return l.recErr
}

func (l *fakeLimiter) reset(checkErr, recErr error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checks, l.records, l.checkErr, l.recErr = nil, nil, checkErr, recErr
}

func (l *fakeLimiter) seen() (checks, records []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.checks...), append([]string(nil), l.records...)
}

// busyHasher answers like a full hashing pool: every Verify and dummy verify fails with an
// error wrapping ErrUnavailable.
type busyHasher struct {
	*argon2id.Hasher
	busy bool
}

var errBusy = fmt.Errorf("test pool full: %w", auth.ErrUnavailable)

func (h *busyHasher) Verify(ctx context.Context, secret, encoded string) (bool, bool, error) {
	if h.busy {
		return false, false, errBusy
	}
	return h.Hasher.Verify(ctx, secret, encoded)
}

func (h *busyHasher) VerifyDummyErr(ctx context.Context, secret string) error {
	if h.busy {
		return errBusy
	}
	h.Hasher.VerifyDummy(ctx, secret)
	return nil
}

type limitFixture struct {
	svc    *auth.Service
	lim    *fakeLimiter
	hasher *countingHasher
	keyID  int64
	secret string
}

func newLimitFixture(t *testing.T) *limitFixture {
	t.Helper()
	h, err := argon2id.New(fastParams)
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewFake(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	lim := &fakeLimiter{}
	ch := &countingHasher{Hasher: h}
	svc := auth.NewService(memstore.New(c), ch, c, auth.Config{Limiter: lim})
	if _, err := svc.EnsureUser(context.Background(), "admin", "admin-password", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	ns, err := svc.LoginPassword(context.Background(), "admin", "admin-password", "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Authenticate(context.Background(), ns.Token)
	if err != nil {
		t.Fatal(err)
	}
	nk, err := svc.CreateUserKey(auth.WithPrincipal(context.Background(), p), "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &limitFixture{svc: svc, lim: lim, hasher: ch, keyID: nk.Key.ID, secret: nk.Secret}
}

// Every login is checked before any work, with the client's address and the identifier it
// targets, and its outcome is recorded: wrong credentials and unknown accounts alike.
func TestLoginsAreCheckedAndRecorded(t *testing.T) {
	f := newLimitFixture(t)
	ip := "203.0.113.7"
	from := auth.WithClient(context.Background(), auth.ClientInfo{IP: ip})
	key := strconv.FormatInt(f.keyID, 10)
	tests := []struct {
		name       string
		login      func() error
		wantCode   auth.Code
		wantCheck  string
		wantRecord string
	}{
		{"right password", func() error {
			_, err := f.svc.LoginPassword(from, "admin", "admin-password", "")
			return err
		}, "", "password " + ip + " admin", "password " + ip + " admin true"},
		{"wrong password", func() error {
			_, err := f.svc.LoginPassword(from, "admin", "nope", "")
			return err
		}, auth.CodeInvalidCredentials, "password " + ip + " admin", "password " + ip + " admin false"},
		{"unknown username", func() error {
			_, err := f.svc.LoginPassword(from, "ghost", "nope", "")
			return err
		}, auth.CodeInvalidCredentials, "password " + ip + " ghost", "password " + ip + " ghost false"},
		{"right key secret", func() error {
			_, err := f.svc.LoginUserKey(from, f.keyID, f.secret, "")
			return err
		}, "", "user_key " + ip + " " + key, "user_key " + ip + " " + key + " true"},
		{"wrong key secret", func() error {
			_, err := f.svc.LoginUserKey(from, f.keyID, f.secret+"x", "")
			return err
		}, auth.CodeInvalidCredentials, "user_key " + ip + " " + key, "user_key " + ip + " " + key + " false"},
		{"unknown key", func() error {
			_, err := f.svc.LoginUserKey(from, 999, f.secret, "")
			return err
		}, auth.CodeInvalidCredentials, "user_key " + ip + " 999", "user_key " + ip + " 999 false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.lim.reset(nil, nil)
			if err := tt.login(); auth.ErrorCode(err) != tt.wantCode {
				t.Fatalf("code %q, want %q: %v", auth.ErrorCode(err), tt.wantCode, err)
			}
			checks, records := f.lim.seen()
			if len(checks) != 1 || checks[0] != tt.wantCheck {
				t.Fatalf("checks %q, want [%q]", checks, tt.wantCheck)
			}
			if len(records) != 1 || records[0] != tt.wantRecord {
				t.Fatalf("records %q, want [%q]", records, tt.wantRecord)
			}
		})
	}
}

// A refused attempt answers RATE_LIMITED with its wait, before any lookup or hashing, and
// records nothing.
func TestRefusedLoginCostsNothing(t *testing.T) {
	f := newLimitFixture(t)
	refusal := &auth.RateLimitedError{RetryAfter: 1500 * time.Millisecond, Rule: "login:ip"}
	f.lim.reset(refusal, nil)
	before := f.hasher.verifies.Load() + f.hasher.dummies.Load()
	from := auth.WithClient(context.Background(), auth.ClientInfo{IP: "198.51.100.1"})
	_, errPw := f.svc.LoginPassword(from, "admin", "admin-password", "")
	_, errKey := f.svc.LoginUserKey(from, f.keyID, f.secret, "")
	for _, err := range []error{errPw, errKey} {
		if auth.ErrorCode(err) != auth.CodeRateLimited || auth.ErrorMessage(err) != auth.MsgRateLimited {
			t.Fatalf("refusal answered %q %q", auth.ErrorCode(err), auth.ErrorMessage(err))
		}
		rl, ok := auth.IsRateLimited(err)
		if !ok || rl.RetryAfterSeconds() != 2 {
			t.Fatalf("refusal lost its wait: %v", err)
		}
	}
	if after := f.hasher.verifies.Load() + f.hasher.dummies.Load(); after != before {
		t.Fatalf("a refused attempt cost %d argon2 verifications", after-before)
	}
	if _, records := f.lim.seen(); len(records) != 0 {
		t.Fatalf("a refused attempt was recorded: %q", records)
	}
}

// Limits fail closed: when the limiter cannot answer, the attempt is SERVICE_UNAVAILABLE
// (never let through uncounted), and a failure that cannot be recorded is not answered as
// a plain wrong password either.
func TestLimiterOutageFailsClosed(t *testing.T) {
	f := newLimitFixture(t)
	down := fmt.Errorf("limiter: %w", auth.ErrUnavailable)

	f.lim.reset(down, nil)
	if _, err := f.svc.LoginPassword(context.Background(), "admin", "admin-password", ""); auth.ErrorCode(err) != auth.CodeUnavailable {
		t.Fatalf("check failed, login answered %v", err)
	}

	f.lim.reset(nil, down)
	if _, err := f.svc.LoginPassword(context.Background(), "admin", "wrong", ""); auth.ErrorCode(err) != auth.CodeUnavailable {
		t.Fatalf("record failed, wrong password answered %v", err)
	}
	// A success whose record fails still signs in: the session exists, and what is lost is
	// only the forgiveness of earlier typos.
	if _, err := f.svc.LoginPassword(context.Background(), "admin", "admin-password", ""); err != nil {
		t.Fatalf("record failed, right password answered %v", err)
	}
}

// A full hashing pool answers the same for an unknown id as for a known one (503 both), so
// filling the pool reveals nothing, and neither answer counts as a failed guess.
func TestBusyHasherAnswersAlikeForUnknownIDs(t *testing.T) {
	h, err := argon2id.New(fastParams)
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewFake(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	bh := &busyHasher{Hasher: h}
	lim := &fakeLimiter{}
	svc := auth.NewService(memstore.New(c), bh, c, auth.Config{Limiter: lim})
	if _, err := svc.EnsureUser(context.Background(), "admin", "admin-password", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	bh.busy = true
	for _, user := range []string{"admin", "ghost", string(make([]byte, 1000))} {
		_, err := svc.LoginPassword(context.Background(), user, "whatever", "")
		if auth.ErrorCode(err) != auth.CodeUnavailable || !errors.Is(err, errBusy) {
			t.Fatalf("user %.8q with the pool full: %v", user, err)
		}
	}
	for _, id := range []int64{1, 999} {
		_, err := svc.LoginUserKey(context.Background(), id, "whatever", "")
		if auth.ErrorCode(err) != auth.CodeUnavailable {
			t.Fatalf("key %d with the pool full: %v", id, err)
		}
	}
	if _, records := lim.seen(); len(records) != 0 {
		t.Fatalf("busy answers were recorded as failures: %q", records)
	}
}

func TestRateLimitedErrorIsADomainError(t *testing.T) {
	var err error = fmt.Errorf("wrapped: %w", &auth.RateLimitedError{RetryAfter: 0, Rule: "login:id"})
	var de *auth.Error
	if !errors.As(err, &de) || de.Code != auth.CodeRateLimited || de.Message != auth.MsgRateLimited {
		t.Fatalf("errors.As to *auth.Error: %+v", de)
	}
	rl, _ := auth.IsRateLimited(err)
	if rl.RetryAfterSeconds() != 1 {
		t.Fatalf("a refusal must ask for at least a second: %d", rl.RetryAfterSeconds())
	}
	if got := (&auth.RateLimitedError{RetryAfter: 3 * time.Second}).RetryAfterSeconds(); got != 3 {
		t.Fatalf("3s is %d seconds", got)
	}
}

// TOTP codes (at login, and to disable TOTP with a stolen session) and refreshes go through
// the Limiter too; a refusal stops them before any check.
func TestTOTPAndRefreshAreChecked(t *testing.T) {
	lim := &fakeLimiter{}
	f, dave := mfaFixture(t, auth.Config{Limiter: lim})
	uid := strconv.FormatInt(auth.PrincipalFrom(dave).User.ID, 10)
	secret, _ := enrol(t, f, dave)
	from := auth.WithClient(context.Background(), auth.ClientInfo{IP: "192.0.2.9"})

	lim.reset(nil, nil)
	_, err := f.svc.Login(from, auth.PasswordLogin{Username: "dave", Password: "dave-password"})
	if code(err) != auth.CodeOTPRequired {
		t.Fatalf("no code: %v", err)
	}
	if checks, _ := lim.seen(); len(checks) != 1 || checks[0] != "password 192.0.2.9 dave" {
		t.Fatalf("the prompt for a code counted a TOTP check: %q", checks)
	}

	lim.reset(nil, nil)
	f.clock.Advance(time.Minute)
	_, err = f.svc.Login(from, auth.PasswordLogin{Username: "dave", Password: "dave-password", OTP: codeAt(t, secret, f.clock.Now())})
	if err != nil {
		t.Fatal(err)
	}
	if checks, _ := lim.seen(); len(checks) != 2 || checks[1] != "totp 192.0.2.9 "+uid {
		t.Fatalf("checks %q: want the password, then the code", checks)
	}

	// Refused: the right code does not sign in, and is not used up.
	f.clock.Advance(time.Minute)
	good := codeAt(t, secret, f.clock.Now())
	lim.reset(nil, nil)
	refusal := &auth.RateLimitedError{RetryAfter: time.Minute, Rule: "totp:id"}
	limitTOTPOnly := &onlyLimiter{fakeLimiter: lim, attempt: auth.AttemptTOTP, err: refusal}
	f.svc = auth.NewService(f.store, f.hasher, f.clock, auth.Config{SessionTTL: time.Hour, Limiter: limitTOTPOnly})
	if _, err := f.svc.Login(from, auth.PasswordLogin{Username: "dave", Password: "dave-password", OTP: good}); code(err) != auth.CodeRateLimited {
		t.Fatalf("a refused code check: %v", err)
	}
	f.svc = auth.NewService(f.store, f.hasher, f.clock, auth.Config{SessionTTL: time.Hour, Limiter: lim})
	if _, err := f.svc.Login(from, auth.PasswordLogin{Username: "dave", Password: "dave-password", OTP: good}); err != nil {
		t.Fatalf("the code was used up by a refused check: %v", err)
	}

	// DisableTOTP with a code or a password, by the address in the request's context.
	lim.reset(nil, nil)
	ctx := auth.WithClient(dave, auth.ClientInfo{IP: "198.51.100.23"})
	if err := f.svc.DisableTOTP(ctx, "000000", ""); code(err) != auth.CodeOTPRequired {
		t.Fatalf("a wrong code: %v", err)
	}
	if err := f.svc.DisableTOTP(ctx, "", "not-daves"); code(err) != auth.CodeInvalidCredentials {
		t.Fatalf("a wrong password: %v", err)
	}
	checks, records := lim.seen()
	if len(checks) != 2 || checks[0] != "totp 198.51.100.23 "+uid || checks[1] != "password 198.51.100.23 dave" {
		t.Fatalf("DisableTOTP checks %q", checks)
	}
	if len(records) != 1 || records[0] != "password 198.51.100.23 dave false" {
		t.Fatalf("DisableTOTP records %q", records)
	}

	// refreshSession counts by address.
	lim.reset(refusal, nil)
	if _, err := f.svc.Refresh(from, "agr_whatever"); code(err) != auth.CodeRateLimited {
		t.Fatalf("a refused refresh: %v", err)
	}
	if checks, _ := lim.seen(); len(checks) != 1 || checks[0] != "refresh 192.0.2.9 " {
		t.Fatalf("refresh checks %q", checks)
	}
}

// onlyLimiter refuses one kind of attempt and passes the others to a fakeLimiter.
type onlyLimiter struct {
	*fakeLimiter
	attempt auth.Attempt
	err     error
}

func (l *onlyLimiter) Check(ctx context.Context, a auth.Attempt, ip, id string) error {
	if a == l.attempt {
		return l.err
	}
	return l.fakeLimiter.Check(ctx, a, ip, id)
}

// The session that changed a password may finish that change by sending it again: then the
// new password is checked against the stored hash, and that check is a guess counted like
// the current password's, so a stolen token of that session gets one guess per attempt.
func TestChangePasswordRetryGuessesAreCounted(t *testing.T) {
	f := newLimitFixture(t)
	bg := context.Background()
	ns, err := f.svc.LoginPassword(bg, "admin", "admin-password", "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.Authenticate(bg, ns.Token)
	if err != nil {
		t.Fatal(err)
	}
	const ip = "198.51.100.4"
	ctx := auth.WithClient(auth.WithPrincipal(bg, p), auth.ClientInfo{IP: ip})
	if _, _, err := f.svc.ChangePassword(ctx, "admin-password", "a brand new passphrase", false); err != nil {
		t.Fatal(err)
	}
	f.lim.reset(nil, nil)
	_, _, err = f.svc.ChangePassword(ctx, "a wrong guess at it", "another guess at it", false)
	wantCode(t, "a retry with two wrong passwords", err, auth.CodeInvalidCredentials)
	checks, records := f.lim.seen()
	want := fmt.Sprint(auth.AttemptPassword, " ", ip, " admin")
	if len(checks) != 2 || len(records) != 2 || records[0] != want+" false" || records[1] != want+" false" {
		t.Fatalf("checks %q, records %q; want both passwords checked and recorded as failures", checks, records)
	}
}
