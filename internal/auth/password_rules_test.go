package auth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/authgraph/authgraph/internal/auth"
)

// ASVS 2.1.2–2.1.4 and 2.1.9: passwords of up to 128 characters are accepted, any Unicode
// (spaces and emoji included) with no composition rule, and are never truncated: a password
// that differs only in its last character does not sign in.
func TestPasswordsAreNotTruncatedAndAnyUnicode(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	long := strings.Repeat("ж", 127) + "🔑" // 128 characters, 258 bytes
	users := map[string]string{"longpw": long, "spaces": "purple otter juggles twelve lanterns", "kana": "短いけど長いパスワードです"}
	for user, pw := range users {
		if _, err := f.svc.CreateUser(admin, user, pw, ""); err != nil {
			t.Fatalf("%s's password refused: %v", user, err)
		}
		if _, err := f.svc.LoginPassword(context.Background(), user, pw, ""); err != nil {
			t.Fatalf("%s's password does not sign in: %v", user, err)
		}
	}
	almost := strings.TrimSuffix(long, "🔑") + "🔒"
	if _, err := f.svc.LoginPassword(context.Background(), "longpw", almost, ""); code(err) != auth.CodeInvalidCredentials {
		t.Fatalf("a password differing in its last character: %v", err)
	}
}
