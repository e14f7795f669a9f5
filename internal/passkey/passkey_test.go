package passkey_test

import (
	"context"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/memstore"
	"github.com/authgraph/authgraph/internal/passkey"
	"github.com/authgraph/authgraph/internal/passkey/passkeytest"
)

const origin = "https://auth.example.com"

type plainHasher struct{}

func (plainHasher) Hash(_ context.Context, p string) (string, error) { return "h:" + p, nil }
func (plainHasher) Verify(_ context.Context, p, h string) (bool, bool, error) {
	return h == "h:"+p, false, nil
}
func (plainHasher) VerifyDummy(context.Context, string) {}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		rp      string
		origins []string
		ok      bool
	}{
		{"example.com", []string{"https://auth.example.com"}, true},
		{"example.com", []string{"https://example.com:8443"}, true},
		{"localhost", []string{"http://localhost:8080"}, true},
		{"example.com", []string{"https://example.org"}, false},
		{"example.com", []string{"https://badexample.com"}, false},
		{"example.com", nil, false},
		{"https://example.com", []string{"https://example.com"}, false},
		{"example.com", []string{"https://example.com/path"}, false},
	} {
		if err := passkey.Check(c.rp, c.origins); (err == nil) != c.ok {
			t.Errorf("Check(%q, %q) = %v; want ok %v", c.rp, c.origins, err, c.ok)
		}
	}
}

// The whole ceremony through the service on the embedded store: the adapter verifies what
// the software authenticator makes, and refuses what it should.
func TestCeremonies(t *testing.T) {
	ctx := t.Context()
	v, err := passkey.New(passkey.Config{RPID: "example.com", Origins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewFake(time.Now())
	store := memstore.New(c)
	svc := auth.NewService(store, plainHasher{}, c, auth.Config{Passkeys: v})
	u := &auth.User{AccountID: 1, Username: "alice", PasswordHash: "h:pw", Role: auth.RoleMember, CreatedAt: c.Now()}
	if err := store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	sess := &auth.Session{UserID: u.ID, Method: auth.MethodPassword, AuthenticatedAt: c.Now(), ExpiresAt: c.Now().Add(time.Hour)}
	me := auth.WithPrincipal(ctx, &auth.Principal{User: u, Session: sess})

	a := passkeytest.New(origin)
	opts, err := svc.BeginPasskeyRegistration(me)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := svc.FinishPasskeyRegistration(me, "laptop", resp)
	if err != nil {
		t.Fatalf("FinishPasskeyRegistration: %v", err)
	}
	if pk.SignCount != 1 || pk.Name != "laptop" {
		t.Errorf("passkey = %+v", pk)
	}
	// The same response again: its ceremony is used up.
	if _, err := svc.FinishPasskeyRegistration(me, "again", resp); auth.ErrorCode(err) != auth.CodeInvalidInput {
		t.Errorf("replayed registration = %v; want BAD_USER_INPUT", err)
	}

	signIn := func(a *passkeytest.Authenticator) (*auth.NewSession, error) {
		t.Helper()
		opts, err := svc.BeginPasskeySignIn(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := a.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		return svc.LoginPasskey(ctx, resp, "")
	}
	clone := a.Clone()
	ns, err := signIn(a)
	if err != nil {
		t.Fatalf("LoginPasskey: %v", err)
	}
	if ns.Session.Method != auth.MethodPasskey || ns.Session.UserID != u.ID {
		t.Errorf("session = %+v", ns.Session)
	}
	// The clone's counter is behind the original's now.
	_, err = signIn(clone)
	if auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Errorf("clone sign-in = %v; want INVALID_CREDENTIALS", err)
	}
	t.Logf("clone: %v", err)
	keys, _ := store.PasskeysOf(ctx, u.ID)
	if len(keys) != 1 || keys[0].CloneSuspectedAt == nil || keys[0].SignCount != 2 {
		t.Errorf("after the clone: %+v", keys[0])
	}
	// Another origin, another RP ID, no user verification.
	for name, bend := range map[string]func(*passkeytest.Authenticator){
		"origin": func(x *passkeytest.Authenticator) { x.Origin = "https://evil.example.net" },
		"rp id":  func(x *passkeytest.Authenticator) { x.RPID = "evil.example.net" },
		"no uv":  func(x *passkeytest.Authenticator) { x.NoUV = true },
	} {
		x := a.Clone()
		bend(x)
		_, err := signIn(x)
		if auth.ErrorCode(err) != auth.CodeInvalidCredentials {
			t.Errorf("%s: sign-in = %v; want INVALID_CREDENTIALS", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	if _, err := signIn(a); err != nil {
		t.Errorf("the original after the refusals: %v", err)
	}
}
