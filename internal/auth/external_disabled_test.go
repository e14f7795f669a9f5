package auth_test

import (
	"context"
	"testing"

	"github.com/authgraph/authgraph/internal/auth"
)

// A disabled user cannot sign in through an identity provider either: the answer is the
// same INVALID_CREDENTIALS as for any refused token, and enabling them lets them in again.
func TestExternalLoginRefusesDisabledUsers(t *testing.T) {
	f, _, ids := externalFixture(t, nil)
	ctx := context.Background()
	admin := f.as(t, "admin", "admin-password")
	if _, err := f.svc.SetUserDisabled(admin, ids["dave"], true); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.LoginExternal(ctx, "tok-dave", "")
	if code(err) != auth.CodeInvalidCredentials || auth.ErrorMessage(err) != auth.MsgInvalidCredentials {
		t.Fatalf("external sign-in of a disabled user: %v", err)
	}
	if _, err := f.svc.SetUserDisabled(admin, ids["dave"], false); err != nil {
		t.Fatal(err)
	}
	ns, err := f.svc.LoginExternal(ctx, "tok-dave", "")
	if err != nil {
		t.Fatalf("external sign-in once enabled: %v", err)
	}
	// A sign-in through the provider counts as recent for sensitive changes, and holds the
	// user's full rights.
	p, err := f.svc.Authenticate(ctx, ns.Token)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RequireRecentAuthentication(auth.WithPrincipal(ctx, p)); err != nil || p.Session.Scopes != nil {
		t.Fatalf("a fresh external session: recent=%v, scopes %v", err, p.Session.Scopes)
	}
}
