package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/memstore"
	"github.com/authgraph/authgraph/internal/token"
)

type tokenFixture struct {
	svc   *auth.Service
	store *memstore.Store
	clock *clock.Fake
	user  *auth.User
}

func newTokenFixture(t *testing.T, cfg auth.EmailTokenConfig) *tokenFixture {
	t.Helper()
	c := clock.NewFake(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	st := memstore.New(c)
	u := &auth.User{AccountID: 1, Username: "alice", PasswordHash: "h", Role: auth.RoleMember, CreatedAt: c.Now()}
	if err := st.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	// The helpers hash nothing: no hasher.
	svc := auth.NewService(st, nil, c, auth.Config{EmailTokens: cfg})
	return &tokenFixture{svc: svc, store: st, clock: c, user: u}
}

func (f *tokenFixture) issue(t *testing.T, p auth.TokenPurpose, extra string) string {
	t.Helper()
	tok, err := auth.IssueEmailToken(f.svc, t.Context(), p, f.user.ID, extra)
	if err != nil {
		t.Fatalf("issueEmailToken(%s): %v", p, err)
	}
	return tok
}

// wantTokenInvalid fails t unless err is the one answer to a token or code refused.
func wantTokenInvalid(t *testing.T, what string, err error) {
	t.Helper()
	var e *auth.Error
	if !errors.As(err, &e) || e.Code != auth.CodeTokenInvalid || e.Message != auth.MsgTokenInvalid || err.Error() != "TOKEN_INVALID: "+auth.MsgTokenInvalid {
		t.Errorf("%s: %v, want TOKEN_INVALID with its one message", what, err)
	}
}

func TestEmailTokenIssueAndConsume(t *testing.T) {
	f := newTokenFixture(t, auth.EmailTokenConfig{})
	tok := f.issue(t, auth.PurposeChangeEmail, "new@example.com")
	if !strings.HasPrefix(tok, "age_") || token.Check(token.Emailed, tok) != nil {
		t.Errorf("token %q is not an emailed token", tok)
	}
	if token.Check(token.Session, tok) == nil {
		t.Errorf("an emailed token passes for a session token")
	}
	u, extra, err := auth.ConsumeEmailToken(f.svc, t.Context(), auth.PurposeChangeEmail, tok)
	if err != nil || u.ID != f.user.ID || extra != "new@example.com" {
		t.Fatalf("consumeEmailToken = %+v, %q, %v", u, extra, err)
	}
	_, _, err = auth.ConsumeEmailToken(f.svc, t.Context(), auth.PurposeChangeEmail, tok)
	wantTokenInvalid(t, "the token used twice", err)
}

// TestEmailTokenOneAnswer: every way a token can be wrong answers the same error, so that
// an answer never tells a used token from an expired or a made-up one.
func TestEmailTokenOneAnswer(t *testing.T) {
	f := newTokenFixture(t, auth.EmailTokenConfig{})
	ctx := t.Context()
	consume := func(p auth.TokenPurpose, tok string) error {
		_, _, err := auth.ConsumeEmailToken(f.svc, ctx, p, tok)
		return err
	}

	used := f.issue(t, auth.PurposeResetPassword, "")
	if err := consume(auth.PurposeResetPassword, used); err != nil {
		t.Fatal(err)
	}
	wantTokenInvalid(t, "used", consume(auth.PurposeResetPassword, used))

	other := f.issue(t, auth.PurposeVerifyEmail, "a@example.com")
	for _, p := range []auth.TokenPurpose{auth.PurposeResetPassword, auth.PurposeInvite, auth.PurposeSignInCode, auth.PurposeChangeEmail, "NO_SUCH_PURPOSE"} {
		wantTokenInvalid(t, "a verification token used as "+string(p), consume(p, other))
	}

	unknown, _ := token.New(token.Emailed)
	wantTokenInvalid(t, "unknown", consume(auth.PurposeResetPassword, unknown))
	session, _ := token.New(token.Session)
	wantTokenInvalid(t, "a session token", consume(auth.PurposeResetPassword, session))
	wantTokenInvalid(t, "malformed", consume(auth.PurposeResetPassword, "age_nonsense"))
	wantTokenInvalid(t, "empty", consume(auth.PurposeResetPassword, ""))

	// The user deleted after the mail was sent: the token finds no one, and is spent.
	gone := f.issue(t, auth.PurposeResetPassword, "")
	if _, err := f.store.DeleteUser(ctx, f.user.ID); err != nil {
		t.Fatal(err)
	}
	wantTokenInvalid(t, "of a deleted user", consume(auth.PurposeResetPassword, gone))

	// The wrong purpose did not spend the verification token; it too now finds no one.
	wantTokenInvalid(t, "of a deleted user, its own purpose", consume(auth.PurposeVerifyEmail, other))
}

func TestEmailTokenExpiry(t *testing.T) {
	for p, ttl := range map[auth.TokenPurpose]time.Duration{
		auth.PurposeResetPassword: time.Hour,
		auth.PurposeVerifyEmail:   24 * time.Hour,
		auth.PurposeInvite:        7 * 24 * time.Hour,
		auth.PurposeSignInCode:    10 * time.Minute,
		auth.PurposeChangeEmail:   24 * time.Hour,
	} {
		t.Run(string(p), func(t *testing.T) {
			f := newTokenFixture(t, auth.EmailTokenConfig{})
			if got := (auth.EmailTokenConfig{}).TokenTTL(p); got != ttl {
				t.Errorf("default TTL %v, want %v", got, ttl)
			}
			live, dead := f.issue(t, p, ""), f.issue(t, p, "")
			f.clock.Advance(ttl - time.Nanosecond)
			if _, _, err := auth.ConsumeEmailToken(f.svc, t.Context(), p, live); err != nil {
				t.Errorf("a nanosecond before its TTL: %v", err)
			}
			f.clock.Advance(time.Nanosecond)
			_, _, err := auth.ConsumeEmailToken(f.svc, t.Context(), p, dead)
			wantTokenInvalid(t, "at its TTL", err)
		})
	}
	t.Run("configured", func(t *testing.T) {
		f := newTokenFixture(t, auth.EmailTokenConfig{TTL: map[auth.TokenPurpose]time.Duration{auth.PurposeResetPassword: 5 * time.Minute}})
		tok := f.issue(t, auth.PurposeResetPassword, "")
		f.clock.Advance(5 * time.Minute)
		_, _, err := auth.ConsumeEmailToken(f.svc, t.Context(), auth.PurposeResetPassword, tok)
		wantTokenInvalid(t, "past a configured TTL", err)
	})
}

func TestEmailTokenConsumedOnceUnderRace(t *testing.T) {
	f := newTokenFixture(t, auth.EmailTokenConfig{})
	tok := f.issue(t, auth.PurposeInvite, "")
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		wins, fails int
	)
	start := make(chan struct{})
	for range 20 {
		wg.Go(func() {
			<-start
			_, _, err := auth.ConsumeEmailToken(f.svc, t.Context(), auth.PurposeInvite, tok)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins++
			} else {
				wantTokenInvalid(t, "a losing consume", err)
				fails++
			}
		})
	}
	close(start)
	wg.Wait()
	if wins != 1 || fails != 19 {
		t.Errorf("%d wins and %d refusals of 20 concurrent consumes, want 1 and 19", wins, fails)
	}
}

// tokenDownStore answers every emailed-token call with an outage.
type tokenDownStore struct{ *memstore.Store }

func (tokenDownStore) ConsumeEmailToken(context.Context, auth.TokenPurpose, token.Digest) (*auth.EmailToken, error) {
	return nil, fmt.Errorf("down: %w", auth.ErrUnavailable)
}

func (tokenDownStore) ConsumeEmailCode(context.Context, int64, auth.TokenPurpose, token.Digest, int) error {
	return fmt.Errorf("down: %w", auth.ErrUnavailable)
}

// TestEmailTokenOutageIsNoRefusal: an outage is not a refused token, which would tell the
// user their link is bad when it is not.
func TestEmailTokenOutageIsNoRefusal(t *testing.T) {
	c := clock.NewFake(time.Now())
	svc := auth.NewService(tokenDownStore{memstore.New(c)}, nil, c, auth.Config{})
	tok, _ := token.New(token.Emailed)
	_, _, err := auth.ConsumeEmailToken(svc, t.Context(), auth.PurposeResetPassword, tok)
	if auth.ErrorCode(err) != auth.CodeUnavailable {
		t.Errorf("consumeEmailToken in an outage: %v (code %s), want SERVICE_UNAVAILABLE", err, auth.ErrorCode(err))
	}
	err = auth.ConsumeEmailCode(svc, t.Context(), auth.PurposeSignInCode, 1, "a@example.com", "123456")
	if auth.ErrorCode(err) != auth.CodeUnavailable {
		t.Errorf("consumeEmailCode in an outage: %v, want SERVICE_UNAVAILABLE", err)
	}
}

func TestEmailCode(t *testing.T) {
	f := newTokenFixture(t, auth.EmailTokenConfig{})
	ctx := t.Context()
	issue := func() string {
		t.Helper()
		code, err := auth.IssueEmailCode(f.svc, ctx, auth.PurposeSignInCode, f.user.ID, "code@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
			t.Fatalf("code %q is not 6 digits", code)
		}
		return code
	}
	try := func(code string) error {
		return auth.ConsumeEmailCode(f.svc, ctx, auth.PurposeSignInCode, f.user.ID, "code@example.com", code)
	}
	// Malformed codes cannot be the code: refused without using a try.
	code := issue()
	for _, bad := range []string{"", "12345", "1234567", "12345a", " 123456", "１２３４５６"} {
		wantTokenInvalid(t, fmt.Sprintf("malformed %q", bad), try(bad))
	}
	other := otherCode(code)
	for range 4 {
		wantTokenInvalid(t, "a wrong code", try(other))
	}
	if err := try(code); err != nil {
		t.Errorf("the right code after 4 wrong ones and 6 malformed ones: %v", err)
	}
	wantTokenInvalid(t, "the code used twice", try(code))

	// The fifth wrong code voids it.
	code = issue()
	for range 5 {
		wantTokenInvalid(t, "a wrong code", try(otherCode(code)))
	}
	wantTokenInvalid(t, "the right code after 5 wrong ones", try(code))

	// Bound to its purpose, user and address, and expires after 10 minutes.
	code = issue()
	wantTokenInvalid(t, "another purpose", auth.ConsumeEmailCode(f.svc, ctx, auth.PurposeResetPassword, f.user.ID, "code@example.com", code))
	wantTokenInvalid(t, "another user", auth.ConsumeEmailCode(f.svc, ctx, auth.PurposeSignInCode, f.user.ID+1, "code@example.com", code))
	wantTokenInvalid(t, "another address", auth.ConsumeEmailCode(f.svc, ctx, auth.PurposeSignInCode, f.user.ID, "other@example.com", code))
	f.clock.Advance(10 * time.Minute)
	wantTokenInvalid(t, "expired", try(code))

	// A new code replaces the one before.
	old := issue()
	code = issue()
	if old != code {
		wantTokenInvalid(t, "a replaced code", try(old))
	}
	if err := try(code); err != nil {
		t.Errorf("the newest code: %v", err)
	}
}

// otherCode answers a well-formed code that is not code.
func otherCode(code string) string {
	b := []byte(code)
	b[5] = '0' + (b[5]-'0'+1)%10
	return string(b)
}

func TestNormalizeEmail(t *testing.T) {
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 57) + ".com"
	for in, want := range map[string]string{
		"alice@example.com":    "alice@example.com",
		"  Alice@Example.COM ": "alice@example.com",
		"ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ":               "alice@example.com", // full-width forms, NFKC
		"first.last+tag@sub.ex-ample.org": "first.last+tag@sub.ex-ample.org",
		"o'brien@xn--bcher-kva.example":   "o'brien@xn--bcher-kva.example",
		long:                              long,
	} {
		got, err := auth.NormalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if len(long) != auth.MaxEmailLen {
		t.Fatalf("the longest case is %d bytes, want %d", len(long), auth.MaxEmailLen)
	}
	for _, in := range []string{
		"", "   ", "alice", "alice@", "@example.com", "a@b@example.com",
		"alice@example.com\r\nBcc: victim@example.com", "alice\n@example.com", "alice@example.com\x00", "alice\t@example.com",
		"alice@pаypal.com",  // Cyrillic а: mixed-script look-alike
		"аlice@example.com", // Cyrillic а in the local part
		"bücher@example.com", "alice@bücher.example",
		"a..b@example.com", ".a@example.com", "a.@example.com", `"a b"@example.com`, "a(b)@example.com",
		"alice@localhost", "alice@example.123", "alice@[192.0.2.1]", "alice@-example.com", "alice@example-.com", "alice@ex..com", "alice@example.com.",
		"a" + long, strings.Repeat("a", 65) + "@example.com", "alice@" + strings.Repeat("b", 64) + ".com",
		"\xff@example.com", strings.Repeat("ａ", 400) + "@example.com",
	} {
		got, err := auth.NormalizeEmail(in)
		if auth.ErrorCode(err) != auth.CodeInvalidInput {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want BAD_USER_INPUT", in, got, err)
		}
	}
}

func TestVerifyEmail(t *testing.T) {
	f := newTokenFixture(t, auth.EmailTokenConfig{})
	ctx := t.Context()
	if _, err := f.store.SetEmail(ctx, f.user.ID, "a@example.com", false); err != nil {
		t.Fatal(err)
	}
	u, _ := f.store.User(ctx, f.user.ID)
	tok, err := auth.IssueEmailVerification(f.svc, ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.VerifyEmail(ctx, tok)
	if err != nil || !got.EmailVerified || got.Email != "a@example.com" {
		t.Fatalf("VerifyEmail = %+v, %v", got, err)
	}
	_, err = f.svc.VerifyEmail(ctx, tok)
	wantTokenInvalid(t, "VerifyEmail twice", err)

	// A verification of an address the user has left verifies nothing.
	if _, err := f.store.SetEmail(ctx, f.user.ID, "b@example.com", false); err != nil {
		t.Fatal(err)
	}
	u, _ = f.store.User(ctx, f.user.ID)
	stale, _ := auth.IssueEmailToken(f.svc, ctx, auth.PurposeVerifyEmail, u.ID, "a@example.com")
	_, err = f.svc.VerifyEmail(ctx, stale)
	wantTokenInvalid(t, "VerifyEmail of a former address", err)
	if u, _ := f.store.User(ctx, f.user.ID); u.EmailVerified {
		t.Error("a former address's token verified the current one")
	}
	// A reset token is no verification.
	reset := f.issue(t, auth.PurposeResetPassword, "b@example.com")
	_, err = f.svc.VerifyEmail(ctx, reset)
	wantTokenInvalid(t, "VerifyEmail with a reset token", err)
}

func TestConfirmEmailChange(t *testing.T) {
	f := newTokenFixture(t, auth.EmailTokenConfig{})
	ctx := t.Context()
	if _, err := f.store.SetEmail(ctx, f.user.ID, "old@example.com", true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := auth.IssueEmailChange(f.svc, ctx, f.user, "new@example.com\r\nBcc: x@example.com"); auth.ErrorCode(err) != auth.CodeInvalidInput {
		t.Errorf("an email change to a malformed address: %v, want BAD_USER_INPUT", err)
	}
	tok, addr, err := auth.IssueEmailChange(f.svc, ctx, f.user, " New@Example.com")
	if err != nil || addr != "new@example.com" {
		t.Fatalf("issueEmailChange = %q, %v", addr, err)
	}
	// Nothing changes until the new address is proven.
	if u, _ := f.store.User(ctx, f.user.ID); u.Email != "old@example.com" {
		t.Errorf("email %q before the change is confirmed", u.Email)
	}
	got, err := f.svc.ConfirmEmailChange(ctx, tok)
	if err != nil || got.Email != "new@example.com" || !got.EmailVerified {
		t.Fatalf("ConfirmEmailChange = %+v, %v", got, err)
	}
	if u, err := f.store.UserByEmail(ctx, 1, "old@example.com"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("UserByEmail of the old address = %+v, %v", u, err)
	}
	_, err = f.svc.ConfirmEmailChange(ctx, tok)
	wantTokenInvalid(t, "ConfirmEmailChange twice", err)

	// The address taken by another user meanwhile: a conflict, and nothing changed.
	bob := &auth.User{AccountID: 1, Username: "bob", PasswordHash: "h", Role: auth.RoleMember, CreatedAt: f.clock.Now()}
	if err := f.store.CreateUser(ctx, bob); err != nil {
		t.Fatal(err)
	}
	tok, _, _ = auth.IssueEmailChange(f.svc, ctx, f.user, "taken@example.com")
	if _, err := f.store.SetEmail(ctx, bob.ID, "taken@example.com", false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ConfirmEmailChange(ctx, tok); auth.ErrorCode(err) != auth.CodeConflict {
		t.Errorf("ConfirmEmailChange to a taken address: %v, want CONFLICT", err)
	}
	if u, _ := f.store.User(ctx, f.user.ID); u.Email != "new@example.com" {
		t.Errorf("email %q after a refused change", u.Email)
	}
}
