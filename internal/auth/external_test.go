package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/memstore"
)

// fakeVerifier answers each token as the test says, and records the tokens it was asked.
type fakeVerifier struct {
	mu      sync.Mutex
	answers map[string]fakeAnswer
	asked   []string
}

type fakeAnswer struct {
	id  auth.ExternalIdentity
	err error
}

func (v *fakeVerifier) Verify(_ context.Context, tok string) (auth.ExternalIdentity, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.asked = append(v.asked, tok)
	a, ok := v.answers[tok]
	if !ok {
		return auth.ExternalIdentity{}, fmt.Errorf("%w: unknown test token", auth.ErrExternalTokenRejected)
	}
	return a.id, a.err
}

func (v *fakeVerifier) calls() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.asked)
}

const issuerURL = "https://idp.example.com/"

func identity(username, account string) auth.ExternalIdentity {
	return auth.ExternalIdentity{Issuer: issuerURL, Subject: "sub-" + username, Username: username, Account: account}
}

// externalFixture: the admin, dave (MEMBER) in the default account, an account "acme" with
// its own "erin" and its own "dave"; a fake verifier that knows a token for each case.
// wrap, if not nil, puts something in front of the store.
func externalFixture(t *testing.T, wrap func(*memstore.Store) auth.Store) (*fixture, *fakeVerifier, map[string]int64) {
	t.Helper()
	f := newFixture(t, fastParams)
	var store auth.Store = f.store
	if wrap != nil {
		store = wrap(f.store)
	}
	v := &fakeVerifier{answers: map[string]fakeAnswer{
		"tok-dave":             {id: identity("dave", "")},
		"tok-dave-acme":        {id: identity("dave", "acme")},
		"tok-erin":             {id: identity("erin", "")},
		"tok-erin-acme":        {id: identity("erin", "acme")},
		"tok-nobody":           {id: identity("nobody", "")},
		"tok-no-username":      {id: identity("", "")},
		"tok-unknown-account":  {id: identity("dave", "initech")},
		"tok-malformed-slug":   {id: identity("dave", "Not A Slug")},
		"tok-rejected":         {err: fmt.Errorf("%w: signature not verified", auth.ErrExternalTokenRejected)},
		"tok-not-allowed":      {err: fmt.Errorf("%w: identity not allowed", auth.ErrExternalTokenRejected)},
		"tok-provider-down":    {err: fmt.Errorf("jwks: connection refused: %w", auth.ErrUnavailable)},
		"tok-verifier-bug":     {err: errors.New("something odd")},
		"tok-admin":            {id: identity("admin", "")},
		"tok-dave-default-acc": {id: identity("dave", "default")},
	}}
	f.svc = auth.NewService(store, f.hasher, f.clock, auth.Config{SessionTTL: time.Hour, External: v})
	admin := f.as(t, "admin", "admin-password")
	ids := map[string]int64{}
	u, err := f.svc.CreateUser(admin, "dave", "dave-password", "")
	if err != nil {
		t.Fatal(err)
	}
	ids["dave"] = u.ID
	if _, err := f.svc.CreateAccount(admin, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"erin", "dave"} {
		u, err := f.svc.CreateUserInAccount(admin, "acme", name, name+"-acme-password", "")
		if err != nil {
			t.Fatal(err)
		}
		ids[name+"@acme"] = u.ID
	}
	ids["admin"] = auth.PrincipalFrom(admin).User.ID
	return f, v, ids
}

func TestExternalLoginMapsToTheExistingUser(t *testing.T) {
	f, _, ids := externalFixture(t, nil)
	ctx := context.Background()
	tests := []struct {
		tok, name string
		wantUser  int64
	}{
		{"tok-dave", "dave in the default account", ids["dave"]},
		{"tok-dave-default-acc", "dave, the default account named", ids["dave"]},
		{"tok-dave-acme", "dave in acme, not the default account's dave", ids["dave@acme"]},
		{"tok-erin-acme", "erin in acme", ids["erin@acme"]},
		{"tok-admin", "an admin keeps the role: the mapping, not the token, decides who", ids["admin"]},
	}
	for _, tt := range tests {
		ns, err := f.svc.LoginExternal(auth.WithClient(ctx, auth.ClientInfo{Name: "app", IP: "192.0.2.1"}), tt.tok, "laptop")
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if ns.Session.UserID != tt.wantUser || ns.Session.Method != auth.MethodExternal || ns.Session.Name != "laptop" ||
			ns.Session.ClientName != "app" || ns.Session.Refreshable() || ns.RefreshToken != "" {
			t.Fatalf("%s: session %+v", tt.name, ns.Session)
		}
		p, err := f.svc.Authenticate(ctx, ns.Token)
		if err != nil || p.User.ID != tt.wantUser || p.Session.Method != auth.MethodExternal {
			t.Fatalf("%s: the token authenticates %+v, %v", tt.name, p, err)
		}
	}
}

func TestExternalLoginRefusals(t *testing.T) {
	f, v, _ := externalFixture(t, nil)
	ctx := context.Background()
	_, refusedUnknown := f.svc.LoginPassword(ctx, "nobody", "x", "")
	tests := []struct {
		tok, name string
		want      auth.Code
	}{
		{"tok-nobody", "no such local user: never made here", auth.CodeInvalidCredentials},
		{"tok-erin", "erin exists only in acme; the issuer names no account, so the default one", auth.CodeInvalidCredentials},
		{"tok-unknown-account", "the issuer's account does not exist", auth.CodeInvalidCredentials},
		{"tok-malformed-slug", "the issuer's account is malformed", auth.CodeInvalidCredentials},
		{"tok-no-username", "an identity without a username", auth.CodeInvalidCredentials},
		{"tok-rejected", "a token the verifier rejects", auth.CodeInvalidCredentials},
		{"tok-not-allowed", "a holder not on the allow-list", auth.CodeInvalidCredentials},
		{"tok-made-up", "a token the verifier does not know", auth.CodeInvalidCredentials},
		{"tok-provider-down", "the provider cannot be reached: not bad credentials", auth.CodeUnavailable},
		{"tok-verifier-bug", "an error of no known class is internal, and masked", auth.CodeInternal},
	}
	for _, tt := range tests {
		ns, err := f.svc.LoginExternal(ctx, tt.tok, "")
		if ns != nil || code(err) != tt.want {
			t.Errorf("%s: %+v, %v; want %s", tt.name, ns, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), tt.tok) {
			t.Errorf("%s: the error %q shows the token", tt.name, err)
		}
		if tt.want == auth.CodeInvalidCredentials && auth.ErrorMessage(err) != auth.ErrorMessage(refusedUnknown) {
			// Whatever the reason, the client sees what a wrong password gets.
			t.Errorf("%s: message %q, want %q", tt.name, auth.ErrorMessage(err), auth.ErrorMessage(refusedUnknown))
		}
	}
	if n := v.calls(); n != len(tests) {
		t.Errorf("the verifier was asked %d times, want %d", n, len(tests))
	}

	// What never reaches the verifier: an empty or oversized token, a bad label.
	before := v.calls()
	for _, tok := range []string{"", strings.Repeat("a", 16<<10+1)} {
		if _, err := f.svc.LoginExternal(ctx, tok, ""); code(err) != auth.CodeInvalidCredentials {
			t.Errorf("token of %d bytes: %v", len(tok), err)
		}
	}
	if _, err := f.svc.LoginExternal(ctx, "tok-dave", strings.Repeat("n", 101)); code(err) != auth.CodeInvalidInput {
		t.Errorf("a 101-character name: %v", err)
	}
	if v.calls() != before {
		t.Errorf("the verifier was asked about a token refused before it")
	}
}

func TestExternalLoginOff(t *testing.T) {
	f := newFixture(t, fastParams)
	_, err := f.svc.LoginExternal(context.Background(), "tok-dave", "")
	if code(err) != auth.CodeInvalidInput || auth.ErrorMessage(err) != auth.MsgExternalLoginOff {
		t.Fatalf("external login while off: %v", err)
	}
}

func TestExternalLoginRefreshable(t *testing.T) {
	f, _, ids := externalFixture(t, nil)
	ctx := context.Background()
	ns, err := f.svc.LoginExternal(ctx, "tok-dave", "", auth.Refreshable(true))
	if err != nil {
		t.Fatal(err)
	}
	if ns.RefreshToken == "" || !ns.Session.Refreshable() || ns.Session.Method != auth.MethodExternal {
		t.Fatalf("refreshable external login: %+v", ns)
	}
	next, err := f.svc.Refresh(ctx, ns.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if next.Session.UserID != ids["dave"] || next.Session.Method != auth.MethodExternal {
		t.Fatalf("the refreshed session: %+v", next.Session)
	}
}

func TestExternalLoginIgnoresTOTP(t *testing.T) {
	f, _, _ := externalFixture(t, nil)
	enrol(t, f, f.as(t, "dave", "dave-password"))
	if _, err := f.svc.LoginExternal(context.Background(), "tok-dave", ""); err != nil {
		t.Fatalf("external login of a user with TOTP on: %v", err)
	}
}

// downStore is a store whose account lookups fail as an unreachable Redis does.
type downStore struct {
	*memstore.Store
	down bool
}

func (s *downStore) AccountBySlug(ctx context.Context, slug string) (*auth.Account, error) {
	if s.down {
		return nil, fmt.Errorf("redis: connection refused: %w", auth.ErrUnavailable)
	}
	return s.Store.AccountBySlug(ctx, slug)
}

func TestExternalLoginStoreDownIsUnavailable(t *testing.T) {
	var st *downStore
	f, _, _ := externalFixture(t, func(m *memstore.Store) auth.Store { st = &downStore{Store: m}; return st })
	st.down = true
	// The verifier accepted the token but the user cannot be looked up: 503, not a refusal
	// that would read as "you may not sign in".
	_, err := f.svc.LoginExternal(context.Background(), "tok-dave", "")
	if code(err) != auth.CodeUnavailable {
		t.Fatalf("store down: %v", err)
	}
}
