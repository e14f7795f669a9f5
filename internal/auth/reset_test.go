package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// resetToken issues a reset token for username, as the reset mail will carry it.
func resetToken(t *testing.T, f *fixture, username string) string {
	t.Helper()
	u, err := f.store.UserByUsername(context.Background(), 1, username)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.IssuePasswordReset(f.svc, context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestResetPassword(t *testing.T) {
	f, dave := mfaFixture(t, auth.Config{})
	ctx := context.Background()
	tok := resetToken(t, f, "dave")

	// The policy applies, and a refusal leaves the token unspent.
	if _, err := f.svc.ResetPassword(ctx, tok, "dave", ""); code(err) != auth.CodeInvalidInput {
		t.Errorf("ResetPassword to a weak password: %v, want BAD_USER_INPUT", err)
	}
	u, err := f.svc.ResetPassword(ctx, tok, "a new long passphrase", "")
	if err != nil || u.Username != "dave" {
		t.Fatalf("ResetPassword = %+v, %v", u, err)
	}
	if _, err := f.loginOTP("dave", "dave-password", ""); code(err) != auth.CodeInvalidCredentials {
		t.Errorf("sign-in with the old password: %v", err)
	}
	if _, err := f.loginOTP("dave", "a new long passphrase", ""); err != nil {
		t.Errorf("sign-in with the new password: %v", err)
	}
	// Every session made before the reset has ended.
	if _, err := f.svc.Authenticate(ctx, auth.PrincipalFrom(dave).Token); code(err) != auth.CodeUnauthenticated {
		t.Errorf("a session from before the reset: %v, want UNAUTHENTICATED", err)
	}
	_, err = f.svc.ResetPassword(ctx, tok, "another long passphrase", "")
	wantTokenInvalid(t, "the token used twice", err)

	// A token sent before a password change is void after it.
	old := resetToken(t, f, "dave")
	if _, err := f.svc.ResetPassword(ctx, resetToken(t, f, "dave"), "a third long passphrase", ""); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.ResetPassword(ctx, old, "a fourth long passphrase", "")
	wantTokenInvalid(t, "a token from before a password change", err)

	// Expired after an hour.
	late := resetToken(t, f, "dave")
	f.clock.Advance(time.Hour)
	_, err = f.svc.ResetPassword(ctx, late, "a fifth long passphrase", "")
	wantTokenInvalid(t, "an expired token", err)
}

func TestResetPasswordNeedsTheSecondFactor(t *testing.T) {
	f, dave := mfaFixture(t, auth.Config{})
	ctx := context.Background()
	secret, recovery := enrol(t, f, dave)
	tok := resetToken(t, f, "dave")

	_, err := f.svc.ResetPassword(ctx, tok, "a new long passphrase", "")
	wantOTPRequired(t, "a reset without a code", nil, err)
	_, err = f.svc.ResetPassword(ctx, tok, "a new long passphrase", "000000")
	if code(err) != auth.CodeOTPRequired {
		t.Errorf("a reset with a wrong code: %v, want OTP_REQUIRED", err)
	}
	// The same token, now with a code: the refusals did not spend it.
	f.clock.Advance(30 * time.Second)
	if _, err := f.svc.ResetPassword(ctx, tok, "a new long passphrase", codeAt(t, secret, f.clock.Now())); err != nil {
		t.Fatalf("a reset with the code: %v", err)
	}
	// A recovery code does too.
	if _, err := f.svc.ResetPassword(ctx, resetToken(t, f, "dave"), "another long passphrase", recovery[0]); err != nil {
		t.Errorf("a reset with a recovery code: %v", err)
	}
	if _, err := f.loginOTP("dave", "another long passphrase", ""); code(err) != auth.CodeOTPRequired {
		t.Errorf("sign-in after the reset: %v; the second factor stays on", err)
	}
}
