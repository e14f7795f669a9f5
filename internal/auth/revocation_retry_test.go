package auth_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/memstore"
)

// failingSweep is a store whose next DeleteSessionsOf fails, as on an outage, once armed.
type failingSweep struct {
	*memstore.Store
	fail atomic.Bool
}

func (s *failingSweep) DeleteSessionsOf(ctx context.Context, userID, exceptID int64) (int, error) {
	if s.fail.CompareAndSwap(true, false) {
		return 0, fmt.Errorf("test: %w", auth.ErrUnavailable)
	}
	return s.Store.DeleteSessionsOf(ctx, userID, exceptID)
}

// A revocation that fails after changing the credential, before ending every session, is
// retried as it was made, and the retry ends what is left: changePassword (whose first call
// changed the password already) and disableUser.
func TestRevocationFailingBeforeItsSweepIsRetried(t *testing.T) {
	h, err := argon2id.New(fastParams)
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewFake(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	st := &failingSweep{Store: memstore.New(c)}
	svc := auth.NewService(st, h, c, auth.Config{})
	bg := context.Background()
	if _, err := svc.EnsureUser(bg, "admin", "admin-password", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	signIn := func(username, password string) (context.Context, string) {
		t.Helper()
		ns, err := svc.LoginPassword(bg, username, password, "")
		if err != nil {
			t.Fatalf("sign in %s: %v", username, err)
		}
		p, err := svc.Authenticate(bg, ns.Token)
		if err != nil {
			t.Fatal(err)
		}
		return auth.WithPrincipal(bg, p), ns.Token
	}
	admin, _ := signIn("admin", "admin-password")
	alice, err := svc.CreateUser(admin, "alice", "alice-password", "")
	if err != nil {
		t.Fatal(err)
	}
	current, _ := signIn("alice", "alice-password")
	otherCtx, other := signIn("alice", "alice-password")

	st.fail.Store(true)
	_, _, err = svc.ChangePassword(current, "alice-password", "a brand new passphrase", true)
	if !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("changePassword with the sweep failing: %v, want ErrUnavailable", err)
	}
	if _, err := svc.LoginPassword(bg, "alice", "alice-password", ""); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatalf("the old password after the failed change: %v, want INVALID_CREDENTIALS", err)
	}
	u, ended, err := svc.ChangePassword(current, "alice-password", "a brand new passphrase", true)
	if err != nil || ended != 1 || u.ID != alice.ID {
		t.Fatalf("the retried changePassword = %v, %d ended, %v; want alice, 1 ended", u, ended, err)
	}
	if _, err := svc.Authenticate(bg, other); auth.ErrorCode(err) != auth.CodeUnauthenticated {
		t.Fatalf("a session of the old password after the retry: %v", err)
	}
	// Only the session that made the change may finish it: for another, the new password
	// in the retry's place would be a second guess per attempt. (The other session is ended
	// now, so the check runs on the principal it had; its answer must be the wrong password's.)
	_, _, err = svc.ChangePassword(otherCtx, "a wrong guess", "a brand new passphrase", true)
	wantCode(t, "another session presenting the new password as a retry", err, auth.CodeInvalidCredentials)
	if _, err := svc.Authenticate(bg, tokenOf(current)); err != nil {
		t.Fatalf("the session that changed the password: %v", err)
	}
	// Neither a wrong current password nor the old one passes for a retry.
	_, _, err = svc.ChangePassword(current, "not the password", "another new passphrase", true)
	wantCode(t, "a wrong current password", err, auth.CodeInvalidCredentials)

	_, kept := signIn("alice", "a brand new passphrase")
	st.fail.Store(true)
	if _, err := svc.SetUserDisabled(admin, alice.ID, true); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("disableUser with the sweep failing: %v, want ErrUnavailable", err)
	}
	if _, err := svc.SetUserDisabled(admin, alice.ID, true); err != nil {
		t.Fatalf("the retried disableUser: %v", err)
	}
	if _, err := svc.SetUserDisabled(admin, alice.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(bg, kept); auth.ErrorCode(err) != auth.CodeUnauthenticated {
		t.Fatalf("a session from before the retried disable, once enabled again: %v", err)
	}
}
