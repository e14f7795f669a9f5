package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// Records must come back with every field intact. Times are compared with Equal (full
// precision, any location), so a store may answer them in UTC.

func sameTime(a, b time.Time) bool { return a.Equal(b) }

func sameTimePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// sameScopes tells nil (the user's full rights) from an empty list (no rights at all).
func sameScopes(a, b []auth.Scope) bool {
	return (a == nil) == (b == nil) && slices.Equal(a, b)
}

func checkUser(t *testing.T, got, want *auth.User) {
	t.Helper()
	if got == nil || got.ID != want.ID || got.AccountID != want.AccountID || got.Username != want.Username ||
		got.PasswordHash != want.PasswordHash || got.Role != want.Role ||
		!sameTime(got.CreatedAt, want.CreatedAt) || got.Disabled != want.Disabled {
		t.Errorf("user = %+v\nwant %+v", got, want)
	}
}

func checkKey(t *testing.T, got, want *auth.UserKey) {
	t.Helper()
	if got == nil || got.ID != want.ID || got.UserID != want.UserID || got.Name != want.Name ||
		got.SecretHash != want.SecretHash || !sameTime(got.CreatedAt, want.CreatedAt) ||
		!sameTimePtr(got.LastUsedAt, want.LastUsedAt) || !sameTimePtr(got.ExpiresAt, want.ExpiresAt) ||
		!sameScopes(got.Scopes, want.Scopes) || got.SecretHint != want.SecretHint ||
		got.PreviousSecretHash != want.PreviousSecretHash || got.PreviousSecretHint != want.PreviousSecretHint ||
		!sameTimePtr(got.PreviousSecretExpiresAt, want.PreviousSecretExpiresAt) {
		t.Errorf("key = %s\nwant %s", fmtKey(got), fmtKey(want))
	}
}

func checkSession(t *testing.T, got, want *auth.Session) {
	t.Helper()
	if got == nil || got.ID != want.ID || got.UserID != want.UserID ||
		got.TokenDigest != want.TokenDigest || got.Method != want.Method ||
		got.UserKeyID != want.UserKeyID || got.Name != want.Name ||
		!sameTime(got.CreatedAt, want.CreatedAt) || !sameTime(got.ExpiresAt, want.ExpiresAt) ||
		!sameTimePtr(got.LastUsedAt, want.LastUsedAt) || got.ClientName != want.ClientName ||
		got.ClientVersion != want.ClientVersion || got.UserAgent != want.UserAgent || got.IP != want.IP ||
		got.FamilyID != want.FamilyID ||
		!sameScopes(got.Scopes, want.Scopes) || !sameTime(got.AuthenticatedAt, want.AuthenticatedAt) {
		t.Errorf("session = %s\nwant %s", fmtSession(got), fmtSession(want))
	}
}

func keyIDs(keys []*auth.UserKey) []int64 {
	ids := make([]int64, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

func sessionIDs(sessions []*auth.Session) []int64 {
	ids := make([]int64, len(sessions))
	for i, s := range sessions {
		ids[i] = s.ID
	}
	return ids
}

// wantErr fails t unless err wraps want.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

// fmtKey and fmtSession also print what the pointer fields point to, which %+v would not.
func fmtKey(k *auth.UserKey) string {
	if k == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%+v (LastUsedAt: %s, ExpiresAt: %s, PreviousSecretExpiresAt: %s)", *k,
		fmtTimePtr(k.LastUsedAt), fmtTimePtr(k.ExpiresAt), fmtTimePtr(k.PreviousSecretExpiresAt))
}

func fmtSession(s *auth.Session) string {
	if s == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%+v (LastUsedAt: %s)", *s, fmtTimePtr(s.LastUsedAt))
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "nil"
	}
	return t.String()
}
