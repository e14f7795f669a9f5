package storetest

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

var totpTests = []test{
	{"PendingTOTP", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		_, err := e.PendingTOTP(e.ctx(t), u.ID)
		wantErr(t, "PendingTOTP with none", err, auth.ErrNotFound)

		first := e.setPending(t, u.ID, time.Hour)
		checkPending(t, e, u.ID, first)
		second := e.setPending(t, u.ID, 2*time.Hour) // replaces the first
		checkPending(t, e, u.ID, second)

		e.clock.Set(second.ExpiresAt.Add(-time.Nanosecond))
		checkPending(t, e, u.ID, second)
		e.clock.Set(second.ExpiresAt) // over at its ExpiresAt
		_, err = e.PendingTOTP(e.ctx(t), u.ID)
		wantErr(t, "PendingTOTP at its ExpiresAt", err, auth.ErrNotFound)
		err = e.EnableTOTP(e.ctx(t), u.ID, second.Secret, 1, nil)
		wantErr(t, "EnableTOTP with an expired enrolment", err, auth.ErrNotFound)
	}},
	{"EnableTOTP", func(t *testing.T, e *env) {
		u, other := e.newUser(t, "alice"), e.newUser(t, "bob")
		p := e.setPending(t, u.ID, time.Hour)
		codes := digests(t, 3)

		// Only the pending secret can be enabled, and only for its user.
		err := e.EnableTOTP(e.ctx(t), u.ID, append(bytes.Clone(p.Secret), 0), 100, codes)
		wantErr(t, "EnableTOTP with another secret", err, auth.ErrNotFound)
		err = e.EnableTOTP(e.ctx(t), other.ID, p.Secret, 100, codes)
		wantErr(t, "EnableTOTP of another user", err, auth.ErrNotFound)
		checkPending(t, e, u.ID, p)

		if err := e.EnableTOTP(e.ctx(t), u.ID, p.Secret, 100, codes); err != nil {
			t.Fatalf("EnableTOTP: %v", err)
		}
		checkTOTP(t, e, u.ID, &auth.TOTP{Secret: p.Secret, LastStep: 100, RecoveryCodes: 3})
		_, err = e.PendingTOTP(e.ctx(t), u.ID)
		wantErr(t, "PendingTOTP after EnableTOTP", err, auth.ErrNotFound)
		_, err = e.TOTP(e.ctx(t), other.ID)
		wantErr(t, "TOTP of a user without", err, auth.ErrNotFound)

		// On already: a new enrolment cannot replace the active secret.
		again := e.setPending(t, u.ID, time.Hour)
		err = e.EnableTOTP(e.ctx(t), u.ID, again.Secret, 200, digests(t, 3))
		wantErr(t, "EnableTOTP while on", err, auth.ErrConflict)
		checkTOTP(t, e, u.ID, &auth.TOTP{Secret: p.Secret, LastStep: 100, RecoveryCodes: 3})
	}},
	{"UseTOTPStep", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		wantErr(t, "UseTOTPStep with TOTP off", e.UseTOTPStep(e.ctx(t), u.ID, 5), auth.ErrNotFound)
		e.enableTOTP(t, u.ID, 100, nil)

		for _, step := range []int64{99, 100} {
			wantErr(t, "UseTOTPStep at or before the last step", e.UseTOTPStep(e.ctx(t), u.ID, step), auth.ErrConflict)
		}
		if err := e.UseTOTPStep(e.ctx(t), u.ID, 102); err != nil {
			t.Fatalf("UseTOTPStep(102): %v", err)
		}
		for _, step := range []int64{101, 102} { // 101 is older than the last accepted one now
			wantErr(t, "UseTOTPStep after a later step", e.UseTOTPStep(e.ctx(t), u.ID, step), auth.ErrConflict)
		}
		if err := e.UseTOTPStep(e.ctx(t), u.ID, 59_000_000); err != nil { // a realistic step
			t.Fatalf("UseTOTPStep(59000000): %v", err)
		}
		if got := mustTOTP(t, e, u.ID); got.LastStep != 59_000_000 {
			t.Errorf("LastStep = %d, want 59000000", got.LastStep)
		}
	}},
	{"UseRecoveryCode", func(t *testing.T, e *env) {
		u, other := e.newUser(t, "alice"), e.newUser(t, "bob")
		codes := digests(t, 10)
		wantErr(t, "UseRecoveryCode with TOTP off", e.UseRecoveryCode(e.ctx(t), u.ID, codes[0]), auth.ErrNotFound)
		e.enableTOTP(t, u.ID, 1, codes)
		e.enableTOTP(t, other.ID, 1, digests(t, 10))

		wantErr(t, "UseRecoveryCode of another user's code", e.UseRecoveryCode(e.ctx(t), other.ID, codes[0]), auth.ErrNotFound)
		wantErr(t, "UseRecoveryCode of an unknown code", e.UseRecoveryCode(e.ctx(t), u.ID, digests(t, 1)[0]), auth.ErrNotFound)
		for i, d := range codes {
			if err := e.UseRecoveryCode(e.ctx(t), u.ID, d); err != nil {
				t.Fatalf("UseRecoveryCode(code %d): %v", i, err)
			}
			wantErr(t, "UseRecoveryCode twice", e.UseRecoveryCode(e.ctx(t), u.ID, d), auth.ErrNotFound)
			if got := mustTOTP(t, e, u.ID).RecoveryCodes; got != len(codes)-i-1 {
				t.Errorf("RecoveryCodes = %d after using %d, want %d", got, i+1, len(codes)-i-1)
			}
		}
		// With every code used, TOTP itself stays on.
		checkTOTP(t, e, u.ID, &auth.TOTP{Secret: mustTOTP(t, e, u.ID).Secret, LastStep: 1, RecoveryCodes: 0})
		if got := mustTOTP(t, e, other.ID).RecoveryCodes; got != 10 {
			t.Errorf("the other user's RecoveryCodes = %d, want 10", got)
		}
	}},
	{"DisableTOTP", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		wantErr(t, "DisableTOTP with TOTP off", e.DisableTOTP(e.ctx(t), u.ID), auth.ErrNotFound)
		codes := digests(t, 2)
		e.enableTOTP(t, u.ID, 100, codes)
		e.setPending(t, u.ID, time.Hour) // an enrolment under way goes too
		if err := e.DisableTOTP(e.ctx(t), u.ID); err != nil {
			t.Fatalf("DisableTOTP: %v", err)
		}
		_, err := e.TOTP(e.ctx(t), u.ID)
		wantErr(t, "TOTP after DisableTOTP", err, auth.ErrNotFound)
		_, err = e.PendingTOTP(e.ctx(t), u.ID)
		wantErr(t, "PendingTOTP after DisableTOTP", err, auth.ErrNotFound)
		wantErr(t, "UseTOTPStep after DisableTOTP", e.UseTOTPStep(e.ctx(t), u.ID, 500), auth.ErrNotFound)
		wantErr(t, "UseRecoveryCode after DisableTOTP", e.UseRecoveryCode(e.ctx(t), u.ID, codes[0]), auth.ErrNotFound)
		wantErr(t, "second DisableTOTP", e.DisableTOTP(e.ctx(t), u.ID), auth.ErrNotFound)

		// Enrolling again starts afresh: the old last step and codes are gone.
		e.enableTOTP(t, u.ID, 7, nil)
		checkTOTP(t, e, u.ID, &auth.TOTP{Secret: mustTOTP(t, e, u.ID).Secret, LastStep: 7, RecoveryCodes: 0})
		wantErr(t, "an old recovery code after re-enrolment", e.UseRecoveryCode(e.ctx(t), u.ID, codes[0]), auth.ErrNotFound)
	}},
	{"TOTPSecretIsCopied", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		p := e.setPending(t, u.ID, time.Hour)
		want := bytes.Clone(p.Secret)
		p.Secret[0] ^= 0xff // the caller's slice is not the stored one
		got, err := e.PendingTOTP(e.ctx(t), u.ID)
		if err != nil || !bytes.Equal(got.Secret, want) {
			t.Fatalf("PendingTOTP = %x, %v; want %x", got.Secret, err, want)
		}
		if err := e.EnableTOTP(e.ctx(t), u.ID, want, 1, nil); err != nil {
			t.Fatal(err)
		}
		tt := mustTOTP(t, e, u.ID)
		tt.Secret[0] ^= 0xff
		if got := mustTOTP(t, e, u.ID); !bytes.Equal(got.Secret, want) {
			t.Errorf("TOTP secret changed through an answer: %x, want %x", got.Secret, want)
		}
	}},
	{"RaceUseTOTPStep", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		e.enableTOTP(t, u.ID, 100, nil)
		wins := race(t, 20, func(int) error { return e.UseTOTPStep(e.ctx(t), u.ID, 101) })
		if wins != 1 {
			t.Errorf("%d of 20 concurrent UseTOTPStep calls with one step succeeded, want 1", wins)
		}
	}},
	{"RaceUseRecoveryCode", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		codes := digests(t, 10)
		e.enableTOTP(t, u.ID, 1, codes)
		wins := race(t, 20, func(int) error { return e.UseRecoveryCode(e.ctx(t), u.ID, codes[3]) })
		if wins != 1 {
			t.Errorf("%d of 20 concurrent UseRecoveryCode calls with one code succeeded, want 1", wins)
		}
		if got := mustTOTP(t, e, u.ID).RecoveryCodes; got != 9 {
			t.Errorf("RecoveryCodes = %d, want 9", got)
		}
	}},
	{"RaceEnableTOTP", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		p := e.setPending(t, u.ID, time.Hour)
		wins := race(t, 20, func(i int) error {
			return e.EnableTOTP(e.ctx(t), u.ID, p.Secret, int64(100+i), digests(t, 10))
		})
		if wins != 1 {
			t.Errorf("%d of 20 concurrent EnableTOTP calls succeeded, want 1", wins)
		}
		if got := mustTOTP(t, e, u.ID).RecoveryCodes; got != 10 {
			t.Errorf("RecoveryCodes = %d, want the 10 of the one winner", got)
		}
	}},
}

// setPending saves a random enrolment of userID that lasts ttl on the fake clock. The secret
// holds every kind of byte, as a sealed (encrypted) one does.
func (e *env) setPending(t *testing.T, userID int64, ttl time.Duration) *auth.PendingTOTP {
	t.Helper()
	secret := make([]byte, 49)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	secret[0], secret[1] = 0, 1
	p := &auth.PendingTOTP{Secret: secret, ExpiresAt: e.now().Add(ttl)}
	if err := e.SetPendingTOTP(e.ctx(t), userID, p); err != nil {
		t.Fatalf("SetPendingTOTP: %v", err)
	}
	return &auth.PendingTOTP{Secret: bytes.Clone(secret), ExpiresAt: p.ExpiresAt}
}

// enableTOTP turns TOTP on for userID with lastStep and the given recovery codes.
func (e *env) enableTOTP(t *testing.T, userID, lastStep int64, recovery []token.Digest) {
	t.Helper()
	p := e.setPending(t, userID, time.Hour)
	if err := e.EnableTOTP(e.ctx(t), userID, p.Secret, lastStep, recovery); err != nil {
		t.Fatalf("EnableTOTP: %v", err)
	}
}

func digests(t *testing.T, n int) []token.Digest {
	t.Helper()
	out := make([]token.Digest, n)
	for i := range out {
		out[i] = newDigest(t)
	}
	return out
}

func checkPending(t *testing.T, e *env, userID int64, want *auth.PendingTOTP) {
	t.Helper()
	got, err := e.PendingTOTP(e.ctx(t), userID)
	if err != nil {
		t.Fatalf("PendingTOTP: %v", err)
	}
	if !bytes.Equal(got.Secret, want.Secret) || !sameTime(got.ExpiresAt, want.ExpiresAt) {
		t.Errorf("pending = %x until %v\nwant %x until %v", got.Secret, got.ExpiresAt, want.Secret, want.ExpiresAt)
	}
}

func mustTOTP(t *testing.T, e *env, userID int64) *auth.TOTP {
	t.Helper()
	got, err := e.TOTP(e.ctx(t), userID)
	if err != nil {
		t.Fatalf("TOTP(%d): %v", userID, err)
	}
	return got
}

func checkTOTP(t *testing.T, e *env, userID int64, want *auth.TOTP) {
	t.Helper()
	got := mustTOTP(t, e, userID)
	if !bytes.Equal(got.Secret, want.Secret) || got.LastStep != want.LastStep || got.RecoveryCodes != want.RecoveryCodes {
		t.Errorf("totp = {%x %d %d}\nwant {%x %d %d}", got.Secret, got.LastStep, got.RecoveryCodes,
			want.Secret, want.LastStep, want.RecoveryCodes)
	}
}
