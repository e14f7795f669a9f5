package auth_test

import (
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// Turning TOTP on or off is a sensitive change: account:write and a recent sign-in.
func TestTOTPChangesNeedARecentSignIn(t *testing.T) {
	f := newLifecycleFixture(t, auth.Config{})
	alice := f.member(t, "alice")
	_, err := f.svc.EnableTOTP(f.keySession(t, alice), "alice-password")
	wantCode(t, "enableTotp from a key session", err, auth.CodeForbidden)
	f.clock.Advance(16 * time.Minute)
	_, err = f.svc.EnableTOTP(alice, "alice-password")
	wantCode(t, "enableTotp 16 minutes after signing in", err, auth.CodeReauthenticationRequired)
	err = f.svc.DisableTOTP(alice, "", "alice-password")
	wantCode(t, "disableTotp 16 minutes after signing in", err, auth.CodeReauthenticationRequired)
	if _, err := f.svc.EnableTOTP(f.as(t, "alice", "alice-password"), "alice-password"); err != nil {
		t.Fatalf("enableTotp right after signing in: %v", err)
	}
}
