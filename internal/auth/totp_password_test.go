package auth_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// A session alone cannot enrol an authenticator: enableTotp needs the current password,
// checked as changePassword checks it (same error, same limiter bucket as the sign-ins, same
// hasher), and a wrong or refused one leaves any enrolment under way as it was.
func TestEnableTOTPNeedsThePassword(t *testing.T) {
	lim := &fakeLimiter{}
	f, dave := mfaFixture(t, auth.Config{Limiter: lim})
	uid := auth.PrincipalFrom(dave).User.ID
	ctx := auth.WithClient(dave, auth.ClientInfo{IP: "203.0.113.50"})
	pending := func() []byte {
		t.Helper()
		p, err := f.store.PendingTOTP(context.Background(), uid)
		if errors.Is(err, auth.ErrNotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return p.Secret
	}

	// No password: a client error, before any check that could count.
	lim.reset(nil, nil)
	_, err := f.svc.EnableTOTP(ctx, "")
	wantCode(t, "enableTotp without a password", err, auth.CodeInvalidInput)
	if checks, _ := lim.seen(); len(checks) != 0 {
		t.Fatalf("an empty password was counted: %q", checks)
	}

	// A wrong password: what changePassword answers to a wrong current password, counted
	// against the sign-ins' bucket (address and username), after one verify; no enrolment.
	lim.reset(nil, nil)
	verifies := f.hasher.verifies.Load()
	_, err = f.svc.EnableTOTP(ctx, "not-daves-password")
	wantCode(t, "enableTotp with a wrong password", err, auth.CodeInvalidCredentials)
	_, _, cpErr := f.svc.ChangePassword(ctx, "not-daves-password", "a-brand-new-password", false)
	if auth.ErrorMessage(err) != auth.MsgInvalidCredentials || auth.ErrorMessage(cpErr) != auth.ErrorMessage(err) {
		t.Fatalf("enableTotp answers %q to a wrong password, changePassword %q", auth.ErrorMessage(err), auth.ErrorMessage(cpErr))
	}
	checks, records := lim.seen()
	want := []string{"password 203.0.113.50 dave", "password 203.0.113.50 dave"}
	if strings.Join(checks, "|") != strings.Join(want, "|") {
		t.Fatalf("checks %q, want %q: enableTotp and changePassword in one bucket", checks, want)
	}
	if len(records) != 2 || records[0] != "password 203.0.113.50 dave false" {
		t.Fatalf("records %q: the wrong password is not counted as a failure", records)
	}
	if n := f.hasher.verifies.Load() - verifies; n != 2 {
		t.Fatalf("%d verifies for two wrong passwords, want 2", n)
	}
	if pending() != nil {
		t.Fatal("a wrong password started an enrolment")
	}

	// A password too long to be one: refused, counted, at the cost of a (dummy) verify.
	lim.reset(nil, nil)
	dummies := f.hasher.dummies.Load()
	_, err = f.svc.EnableTOTP(ctx, strings.Repeat("x", 4*128+1))
	wantCode(t, "enableTotp with an overlong password", err, auth.CodeInvalidCredentials)
	if _, records := lim.seen(); len(records) != 1 || records[0] != "password 203.0.113.50 dave false" {
		t.Fatalf("records %q for an overlong password", records)
	}
	if f.hasher.dummies.Load() == dummies {
		t.Fatal("an overlong password cost no hashing work")
	}

	// The right password: an enrolment, and the success is reported.
	lim.reset(nil, nil)
	enr, err := f.svc.EnableTOTP(ctx, "dave-password")
	if err != nil {
		t.Fatalf("enableTotp with the password: %v", err)
	}
	if _, records := lim.seen(); len(records) != 1 || records[0] != "password 203.0.113.50 dave true" {
		t.Fatalf("records %q for the right password", records)
	}
	first := pending()
	if first == nil {
		t.Fatal("no enrolment under way after enableTotp")
	}

	// A stolen copy of the session, guessing: the owner's enrolment stays as it was.
	lim.reset(nil, nil)
	_, err = f.svc.EnableTOTP(ctx, "guess-1")
	wantCode(t, "a guess during an enrolment", err, auth.CodeInvalidCredentials)
	if !bytes.Equal(pending(), first) {
		t.Fatal("a wrong password replaced the pending secret")
	}

	// Over the limit: refused before any hashing, even with the right password, and the
	// enrolment under way is left alone.
	lim.reset(&auth.RateLimitedError{RetryAfter: time.Minute, Rule: "login:ip+id"}, nil)
	verifies = f.hasher.verifies.Load()
	_, err = f.svc.EnableTOTP(ctx, "dave-password")
	wantCode(t, "enableTotp over the limit", err, auth.CodeRateLimited)
	if f.hasher.verifies.Load() != verifies {
		t.Fatal("a refused attempt was hashed")
	}
	if !bytes.Equal(pending(), first) {
		t.Fatal("a refused attempt replaced the pending secret")
	}

	// The limiter cannot count: refused (limits fail closed), nothing replaced.
	lim.reset(nil, auth.ErrUnavailable)
	_, err = f.svc.EnableTOTP(ctx, "guess-2")
	if !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("a guess that could not be counted: %v, want ErrUnavailable", err)
	}
	if !bytes.Equal(pending(), first) {
		t.Fatal("an uncounted guess replaced the pending secret")
	}

	// The owner confirms the enrolment the password started.
	lim.reset(nil, nil)
	if _, err := f.svc.ConfirmTOTP(ctx, codeAt(t, enr.Secret, f.clock.Now())); err != nil {
		t.Fatalf("confirmTotp: %v", err)
	}
}

// enableTotp checks the password as stored now, not as the session's principal holds it: a
// session that outlived a password change (or a cached principal) must show the new one.
func TestEnableTOTPChecksTheCurrentPassword(t *testing.T) {
	f, dave := mfaFixture(t, auth.Config{})
	other := f.as(t, "dave", "dave-password")
	if _, _, err := f.svc.ChangePassword(other, "dave-password", "daves-new-password", false); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.EnableTOTP(dave, "dave-password")
	wantCode(t, "enableTotp with the old password", err, auth.CodeInvalidCredentials)
	if _, err := f.svc.EnableTOTP(dave, "daves-new-password"); err != nil {
		t.Fatalf("enableTotp with the new password: %v", err)
	}
}
