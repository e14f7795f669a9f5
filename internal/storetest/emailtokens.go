package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// newEmailToken saves a token of purpose p for userID that lasts ttl on the fake clock.
func (e *env) newEmailToken(t *testing.T, p auth.TokenPurpose, userID int64, extra string, ttl time.Duration) *auth.EmailToken {
	t.Helper()
	et := &auth.EmailToken{Digest: newDigest(t), Purpose: p, UserID: userID, Extra: extra, ExpiresAt: e.now().Add(ttl)}
	if err := e.CreateEmailToken(e.ctx(t), et); err != nil {
		t.Fatalf("CreateEmailToken: %v", err)
	}
	return et
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("%s: %v, want ErrNotFound", what, err)
	}
}

// emailTokenTests: emailed tokens are single use, bound to their purpose, and expire on the
// store's clock; short codes allow a bounded number of wrong tries; an email is unique
// within an account and only SetEmail changes it.
var emailTokenTests = []test{
	{"EmailTokenConsumedOnce", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		et := e.newEmailToken(t, auth.PurposeChangeEmail, u.ID, "new@example.com", time.Hour)
		for range 2 {
			if got, err := e.EmailToken(e.ctx(t), auth.PurposeChangeEmail, et.Digest); err != nil || got.UserID != u.ID || got.Extra != et.Extra {
				t.Errorf("EmailToken (which spends nothing) = %+v, %v", got, err)
			}
		}
		_, err := e.EmailToken(e.ctx(t), auth.PurposeVerifyEmail, et.Digest)
		wantNotFound(t, "EmailToken for another purpose", err)
		got, err := e.ConsumeEmailToken(e.ctx(t), auth.PurposeChangeEmail, et.Digest)
		if err != nil {
			t.Fatalf("ConsumeEmailToken: %v", err)
		}
		if got.UserID != u.ID || got.Extra != "new@example.com" || got.Purpose != auth.PurposeChangeEmail ||
			got.Digest != et.Digest || !got.ExpiresAt.Equal(et.ExpiresAt) {
			t.Errorf("ConsumeEmailToken = %+v, want %+v", got, et)
		}
		_, err = e.ConsumeEmailToken(e.ctx(t), auth.PurposeChangeEmail, et.Digest)
		wantNotFound(t, "second ConsumeEmailToken", err)
		_, err = e.EmailToken(e.ctx(t), auth.PurposeChangeEmail, et.Digest)
		wantNotFound(t, "EmailToken of a spent token", err)
		_, err = e.ConsumeEmailToken(e.ctx(t), auth.PurposeChangeEmail, newDigest(t))
		wantNotFound(t, "ConsumeEmailToken of an unknown digest", err)
	}},
	{"EmailTokenBoundToPurpose", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		et := e.newEmailToken(t, auth.PurposeVerifyEmail, u.ID, "", time.Hour)
		for _, p := range []auth.TokenPurpose{auth.PurposeResetPassword, auth.PurposeInvite, auth.PurposeSignInCode, auth.PurposeChangeEmail} {
			_, err := e.ConsumeEmailToken(e.ctx(t), p, et.Digest)
			wantNotFound(t, fmt.Sprintf("a %s token consumed as %s", et.Purpose, p), err)
		}
		// Trying it for another purpose neither used it up nor changed it.
		if got, err := e.ConsumeEmailToken(e.ctx(t), auth.PurposeVerifyEmail, et.Digest); err != nil || got.UserID != u.ID {
			t.Errorf("ConsumeEmailToken for its own purpose after the others = %+v, %v", got, err)
		}
	}},
	{"EmailTokenExpires", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		et := e.newEmailToken(t, auth.PurposeResetPassword, u.ID, "", time.Hour)
		live := e.newEmailToken(t, auth.PurposeResetPassword, u.ID, "", time.Hour+time.Second)
		e.clock.Set(et.ExpiresAt)
		_, err := e.EmailToken(e.ctx(t), auth.PurposeResetPassword, et.Digest)
		wantNotFound(t, "EmailToken at its expiry", err)
		_, err = e.ConsumeEmailToken(e.ctx(t), auth.PurposeResetPassword, et.Digest)
		wantNotFound(t, "ConsumeEmailToken at its expiry", err)
		if _, err := e.ConsumeEmailToken(e.ctx(t), auth.PurposeResetPassword, live.Digest); err != nil {
			t.Errorf("ConsumeEmailToken a second before its expiry: %v", err)
		}
	}},
	{"EmailTokenDigestConflict", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		et := e.newEmailToken(t, auth.PurposeInvite, u.ID, "", time.Hour)
		again := *et
		if err := e.CreateEmailToken(e.ctx(t), &again); !errors.Is(err, auth.ErrConflict) {
			t.Errorf("CreateEmailToken of a digest taken: %v, want ErrConflict", err)
		}
	}},
	{"RaceConsumeEmailToken", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		et := e.newEmailToken(t, auth.PurposeResetPassword, u.ID, "", time.Hour)
		wins := race(t, 20, func(int) error {
			_, err := e.ConsumeEmailToken(e.ctx(t), auth.PurposeResetPassword, et.Digest)
			return err
		})
		if wins != 1 {
			t.Errorf("%d of 20 concurrent ConsumeEmailToken calls succeeded, want 1", wins)
		}
	}},
	{"EmailCodeTries", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		code, wrong := newDigest(t), newDigest(t)
		setCode := func(d token.Digest) {
			t.Helper()
			if err := e.SetEmailCode(e.ctx(t), u.ID, auth.PurposeSignInCode, d, e.now().Add(10*time.Minute)); err != nil {
				t.Fatalf("SetEmailCode: %v", err)
			}
		}
		try := func(d token.Digest) error {
			return e.ConsumeEmailCode(e.ctx(t), u.ID, auth.PurposeSignInCode, d, 5)
		}
		// Four wrong tries leave the code usable, once.
		setCode(code)
		for range 4 {
			wantNotFound(t, "a wrong code", try(wrong))
		}
		if err := try(code); err != nil {
			t.Errorf("the right code after 4 wrong tries: %v", err)
		}
		wantNotFound(t, "the right code a second time", try(code))
		// The fifth wrong try voids it.
		setCode(code)
		for range 5 {
			wantNotFound(t, "a wrong code", try(wrong))
		}
		wantNotFound(t, "the right code after 5 wrong tries", try(code))
		// A new code replaces the old one and its count.
		setCode(wrong)
		for range 4 {
			wantNotFound(t, "a wrong code", try(newDigest(t)))
		}
		setCode(code)
		wantNotFound(t, "the replaced code", try(wrong))
		for range 3 {
			wantNotFound(t, "a wrong code", try(newDigest(t)))
		}
		if err := try(code); err != nil {
			t.Errorf("the new code after 4 wrong tries of its own: %v", err)
		}
	}},
	{"EmailCodeBoundAndExpires", func(t *testing.T, e *env) {
		u, v := e.newUser(t, "alice"), e.newUser(t, "bob")
		code := newDigest(t)
		if err := e.SetEmailCode(e.ctx(t), u.ID, auth.PurposeSignInCode, code, e.now().Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
		wantNotFound(t, "the code of another user", e.ConsumeEmailCode(e.ctx(t), v.ID, auth.PurposeSignInCode, code, 5))
		wantNotFound(t, "the code for another purpose", e.ConsumeEmailCode(e.ctx(t), u.ID, auth.PurposeResetPassword, code, 5))
		e.clock.Set(e.now().Add(10 * time.Minute))
		wantNotFound(t, "the code at its expiry", e.ConsumeEmailCode(e.ctx(t), u.ID, auth.PurposeSignInCode, code, 5))
	}},
	{"RaceConsumeEmailCode", func(t *testing.T, e *env) {
		u := e.newUser(t, "alice")
		code := newDigest(t)
		set := func() {
			t.Helper()
			if err := e.SetEmailCode(e.ctx(t), u.ID, auth.PurposeSignInCode, code, e.now().Add(10*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		set()
		wins := race(t, 20, func(int) error {
			return e.ConsumeEmailCode(e.ctx(t), u.ID, auth.PurposeSignInCode, code, 5)
		})
		if wins != 1 {
			t.Errorf("%d of 20 concurrent right codes succeeded, want 1", wins)
		}
		// 20 concurrent wrong tries get no more than 5: the code is void after them.
		set()
		if wins := race(t, 20, func(int) error {
			return e.ConsumeEmailCode(e.ctx(t), u.ID, auth.PurposeSignInCode, newDigest(t), 5)
		}); wins != 0 {
			t.Errorf("%d wrong codes succeeded", wins)
		}
		wantNotFound(t, "the right code after 20 concurrent wrong ones", e.ConsumeEmailCode(e.ctx(t), u.ID, auth.PurposeSignInCode, code, 5))
	}},
	{"EmailUniquePerAccount", func(t *testing.T, e *env) {
		alice, bob := e.newUser(t, "alice"), e.newUser(t, "bob")
		other := e.newUserIn(t, testAccount+1, "carol")
		got, err := e.SetEmail(e.ctx(t), alice.ID, "a@example.com", false)
		if err != nil || got.Email != "a@example.com" || got.EmailVerified {
			t.Fatalf("SetEmail = %+v, %v", got, err)
		}
		if got, err := e.UserByEmail(e.ctx(t), testAccount, "a@example.com"); err != nil || got.ID != alice.ID || got.Email != "a@example.com" {
			t.Errorf("UserByEmail = %+v, %v; want alice", got, err)
		}
		if _, err := e.SetEmail(e.ctx(t), bob.ID, "a@example.com", true); !errors.Is(err, auth.ErrConflict) {
			t.Errorf("SetEmail of alice's address for bob: %v, want ErrConflict", err)
		}
		if got, _ := e.User(e.ctx(t), bob.ID); got.Email != "" {
			t.Errorf("bob's email after a refused SetEmail = %q", got.Email)
		}
		if _, err := e.SetEmail(e.ctx(t), other.ID, "a@example.com", true); err != nil {
			t.Errorf("SetEmail of the same address in another account: %v", err)
		}
		wantNotFound(t, "UserByEmail in an account without it", func() error {
			_, err := e.UserByEmail(e.ctx(t), testAccount+2, "a@example.com")
			return err
		}())
		// Setting it again (as a verification does) keeps it and changes the flag.
		if got, err := e.SetEmail(e.ctx(t), alice.ID, "a@example.com", true); err != nil || !got.EmailVerified {
			t.Errorf("SetEmail of alice's own address, verified = %+v, %v", got, err)
		}
		// A change releases the old address.
		if _, err := e.SetEmail(e.ctx(t), alice.ID, "b@example.com", false); err != nil {
			t.Fatal(err)
		}
		wantNotFound(t, "UserByEmail of a released address", func() error {
			_, err := e.UserByEmail(e.ctx(t), testAccount, "a@example.com")
			return err
		}())
		if _, err := e.SetEmail(e.ctx(t), bob.ID, "a@example.com", false); err != nil {
			t.Errorf("SetEmail of an address alice released: %v", err)
		}
		// "" removes the email and releases it.
		if got, err := e.SetEmail(e.ctx(t), alice.ID, "", true); err != nil || got.Email != "" || got.EmailVerified {
			t.Errorf("SetEmail(\"\") = %+v, %v", got, err)
		}
		if _, err := e.SetEmail(e.ctx(t), bob.ID, "b@example.com", false); err != nil {
			t.Errorf("SetEmail of an address alice removed: %v", err)
		}
		_, err = e.SetEmail(e.ctx(t), 999999, "x@example.com", false)
		wantNotFound(t, "SetEmail of an unknown user", err)
		_, err = e.SetEmail(e.ctx(t), 999999, "x@example.com", false)
		wantNotFound(t, "SetEmail of an unknown user, again (no claim left behind)", err)
	}},
	{"EmailOnlyBySetEmail", func(t *testing.T, e *env) {
		u := &auth.User{AccountID: testAccount, Username: "alice", PasswordHash: "h", Role: auth.RoleMember,
			CreatedAt: e.now(), Email: "a@example.com", EmailVerified: true}
		if err := e.CreateUser(e.ctx(t), u); err != nil {
			t.Fatal(err)
		}
		if got, _ := e.User(e.ctx(t), u.ID); got.Email != "" || got.EmailVerified {
			t.Errorf("CreateUser saved email %q (verified %v); only SetEmail may", got.Email, got.EmailVerified)
		}
		if _, err := e.SetEmail(e.ctx(t), u.ID, "a@example.com", false); err != nil {
			t.Fatal(err)
		}
		got, err := e.UpdateUser(e.ctx(t), u.ID, func(u *auth.User) error {
			u.Email, u.EmailVerified = "b@example.com", true
			return nil
		})
		if err != nil || got.Email != "a@example.com" || !got.EmailVerified {
			t.Errorf("UpdateUser = %+v, %v; want the email kept, the flag set", got, err)
		}
		if got, err := e.UserByEmail(e.ctx(t), testAccount, "a@example.com"); err != nil || got.ID != u.ID || !got.EmailVerified {
			t.Errorf("UserByEmail after UpdateUser = %+v, %v", got, err)
		}
		wantNotFound(t, "UserByEmail of the address UpdateUser tried to set", func() error {
			_, err := e.UserByEmail(e.ctx(t), testAccount, "b@example.com")
			return err
		}())
	}},
	{"DeleteUserReleasesEmail", func(t *testing.T, e *env) {
		u, v := e.newUser(t, "alice"), e.newUser(t, "bob")
		if _, err := e.SetEmail(e.ctx(t), u.ID, "a@example.com", true); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DeleteUser(e.ctx(t), u.ID); err != nil {
			t.Fatal(err)
		}
		wantNotFound(t, "UserByEmail of a deleted user", func() error {
			_, err := e.UserByEmail(e.ctx(t), testAccount, "a@example.com")
			return err
		}())
		if _, err := e.SetEmail(e.ctx(t), v.ID, "a@example.com", false); err != nil {
			t.Errorf("SetEmail of a deleted user's address: %v", err)
		}
	}},
	{"RaceSetEmail", func(t *testing.T, e *env) {
		users := make([]*auth.User, 20)
		for i := range users {
			users[i] = e.newUser(t, fmt.Sprintf("user%d", i))
		}
		winner := make(chan int64, len(users))
		wins := race(t, len(users), func(i int) error {
			_, err := e.SetEmail(e.ctx(t), users[i].ID, "same@example.com", false)
			if err == nil {
				winner <- users[i].ID
			}
			return err
		})
		if wins != 1 {
			t.Fatalf("%d of %d concurrent SetEmail calls for one address succeeded, want 1", wins, len(users))
		}
		id := <-winner
		if got, err := e.UserByEmail(e.ctx(t), testAccount, "same@example.com"); err != nil || got.ID != id {
			t.Errorf("UserByEmail = %+v, %v; want user %d", got, err, id)
		}
		for _, u := range users {
			if got, _ := e.User(e.ctx(t), u.ID); (got.Email != "") != (u.ID == id) {
				t.Errorf("user %d has email %q; the winner is %d", u.ID, got.Email, id)
			}
		}
	}},
}
