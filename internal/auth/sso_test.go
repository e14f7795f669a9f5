package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// fakeProvider stands in for a provider: a code names the identity it signs in, and Exchange
// checks the verifier and nonce of the flow that AuthURL started (the real protocol is
// internal/sso's, tested against a real provider there and in server's end-to-end tests).
type fakeProvider struct {
	mu       sync.Mutex
	ids      map[string]auth.SSOIdentity
	verifier map[string]string // nonce → verifier, from AuthURL
}

func (p *fakeProvider) AuthURL(_ context.Context, state, nonce, verifier string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.verifier[nonce] = verifier
	return "https://idp.example/auth?" + url.Values{"state": {state}, "nonce": {nonce}}.Encode(), nil
}

func (p *fakeProvider) Exchange(_ context.Context, code, verifier, _, nonce string) (auth.SSOIdentity, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, ok := p.ids[code]
	if !ok || p.verifier[nonce] != verifier {
		return auth.SSOIdentity{}, fmt.Errorf("%w: bad code or verifier", auth.ErrExternalTokenRejected)
	}
	return id, nil
}

func (p *fakeProvider) AllowsRedirect(string) bool { return true }

func ssoFixture(t *testing.T, trusted bool) (*fixture, *fakeProvider) {
	t.Helper()
	f := newFixture(t, fastParams)
	p := &fakeProvider{verifier: map[string]string{}, ids: map[string]auth.SSOIdentity{
		"code-dave":            {Subject: "s-dave", Email: "dave@example.com", EmailVerified: true},
		"code-dave-unverified": {Subject: "s-dave-2", Email: "dave@example.com"},
		"code-lookalike":       {Subject: "s-dave-3", Email: "ｄave@example.com", EmailVerified: true},
		"code-stranger":        {Subject: "s-stranger", Email: "stranger@example.com", EmailVerified: true},
	}}
	f.svc = auth.NewService(f.store, f.hasher, f.clock, auth.Config{SessionTTL: time.Hour, SSO: auth.SSOConfig{
		Providers: map[string]auth.SSOProviderConfig{"acme": {Provider: p, LinkByVerifiedEmail: trusted}},
	}})
	admin := f.as(t, "admin", "admin-password")
	u, err := f.svc.CreateUser(admin, "dave", "dave-password", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.SetEmail(context.Background(), u.ID, "dave@example.com", true); err != nil {
		t.Fatal(err)
	}
	return f, p
}

// run starts a flow in ctx and finishes it with code in the same browser.
func run(t *testing.T, f *fixture, ctx context.Context, code string, link bool) (*auth.SSOResult, error) {
	t.Helper()
	st, err := f.svc.StartSSO(ctx, "acme", "/account", link)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(st.URL)
	return f.svc.FinishSSO(context.Background(), "acme", u.Query().Get("state"), st.Binding, code)
}

func TestSSOLinksByEmailOnlyWhenBothSidesVerifiedAndTrusted(t *testing.T) {
	tests := []struct {
		name    string
		trusted bool
		code    string
		local   bool // the local address verified
		want    auth.Code
	}{
		{"trusted, verified on both sides", true, "code-dave", true, ""},
		{"provider not trusted for email", false, "code-dave", true, auth.CodeIdentityNotLinked},
		{"unverified at the provider", true, "code-dave-unverified", true, auth.CodeIdentityNotLinked},
		{"unverified here", true, "code-dave", false, auth.CodeIdentityNotLinked},
		{"a look-alike address", true, "code-lookalike", true, auth.CodeIdentityNotLinked},
		{"nobody has the address", true, "code-stranger", true, auth.CodeIdentityNotLinked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := ssoFixture(t, tt.trusted)
			dave, _ := f.store.UserByUsername(context.Background(), 1, "dave")
			if !tt.local {
				if _, err := f.store.SetEmail(context.Background(), dave.ID, "dave@example.com", false); err != nil {
					t.Fatal(err)
				}
			}
			res, err := run(t, f, context.Background(), tt.code, false)
			if code(err) != tt.want {
				t.Fatalf("code %q, want %q (%v)", code(err), tt.want, err)
			}
			links, _ := f.store.IdentitiesOf(context.Background(), dave.ID)
			if tt.want != "" {
				if len(links) != 0 {
					t.Errorf("refused, yet linked: %+v", links)
				}
				return
			}
			if res.Session == nil || res.Session.Session.UserID != dave.ID || res.Session.Session.Method != auth.MethodExternal {
				t.Fatalf("result %+v", res)
			}
			if len(links) != 1 || links[0].Subject != "s-dave" {
				t.Errorf("links = %+v", links)
			}
			// Linked now: the next sign-in needs no email at all.
			f.store.SetEmail(context.Background(), dave.ID, "", false)
			if _, err := run(t, f, context.Background(), tt.code, false); err != nil {
				t.Errorf("second sign-in: %v", err)
			}
		})
	}
}

func TestSSOStateIsSingleUseAndBoundToTheBrowser(t *testing.T) {
	f, _ := ssoFixture(t, true)
	ctx := context.Background()
	start := func() (state, binding string) {
		st, err := f.svc.StartSSO(ctx, "acme", "/account", false)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(st.URL)
		return u.Query().Get("state"), st.Binding
	}
	state, binding := start()
	if _, err := f.svc.FinishSSO(ctx, "acme", state, "another-browser", "code-dave"); code(err) != auth.CodeInvalidCredentials {
		t.Errorf("another browser's binding: %v", err)
	}
	if _, err := f.svc.FinishSSO(ctx, "acme", state, binding, "code-dave"); code(err) != auth.CodeInvalidCredentials {
		t.Errorf("the state after a refused callback: %v, want it spent", err)
	}
	state, binding = start()
	if _, err := f.svc.FinishSSO(ctx, "acme", state, binding, "code-dave"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.FinishSSO(ctx, "acme", state, binding, "code-dave"); code(err) != auth.CodeInvalidCredentials {
		t.Errorf("a replayed state: %v", err)
	}
	state, binding = start()
	f.clock.Advance(auth.DefaultSSOFlowTTL)
	if _, err := f.svc.FinishSSO(ctx, "acme", state, binding, "code-dave"); code(err) != auth.CodeInvalidCredentials {
		t.Errorf("an expired flow: %v", err)
	}
	for _, rt := range []string{"https://evil.example", "//evil.example", "/\\evil.example", "evil", "", "/x\x00"} {
		if _, err := f.svc.StartSSO(ctx, "acme", rt, false); code(err) != auth.CodeInvalidInput {
			t.Errorf("returnTo %q: %v", rt, err)
		}
	}
	if _, err := f.svc.StartSSO(ctx, "nope", "/", false); code(err) != auth.CodeInvalidInput {
		t.Errorf("an unknown provider: %v", err)
	}
}

func TestSSOLinkingAndUnlinking(t *testing.T) {
	f, _ := ssoFixture(t, false)
	dave := f.as(t, "dave", "dave-password")
	if _, err := run(t, f, context.Background(), "code-stranger", true); code(err) != auth.CodeUnauthenticated {
		t.Errorf("a link without a session: %v", err)
	}
	res, err := run(t, f, dave, "code-stranger", true)
	if err != nil || res.Linked == nil || res.Session != nil || res.ReturnTo != "/account" {
		t.Fatalf("link: %+v, %v", res, err)
	}
	// The identity now signs dave in, though its address is not his.
	if res, err := run(t, f, context.Background(), "code-stranger", false); err != nil || res.Session.Session.UserID != auth.PrincipalFrom(dave).User.ID {
		t.Fatalf("sign-in with the linked identity: %+v, %v", res, err)
	}
	// Nobody else can link it.
	admin := f.as(t, "admin", "admin-password")
	if _, err := run(t, f, admin, "code-stranger", true); code(err) != auth.CodeConflict {
		t.Errorf("linking a linked identity to another user: %v", err)
	}
	ids, err := f.svc.Identities(dave, auth.PrincipalFrom(dave).User.ID)
	if err != nil || len(ids) != 1 || ids[0].Provider != "acme" || ids[0].Subject != "s-stranger" {
		t.Fatalf("Identities = %+v, %v", ids, err)
	}
	// An old sign-in may neither link nor unlink.
	f.clock.Advance(auth.DefaultReauthWindow + time.Minute)
	if _, err := run(t, f, dave, "code-dave", true); code(err) != auth.CodeReauthenticationRequired {
		t.Errorf("linking from an old sign-in: %v", err)
	}
	if _, err := f.svc.UnlinkIdentity(dave, "acme", "s-stranger"); code(err) != auth.CodeReauthenticationRequired {
		t.Errorf("unlinking from an old sign-in: %v", err)
	}
	dave = f.as(t, "dave", "dave-password")
	if _, err := f.svc.UnlinkIdentity(dave, "acme", "s-stranger"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, f, context.Background(), "code-stranger", false); code(err) != auth.CodeIdentityNotLinked {
		t.Errorf("sign-in after unlinking: %v", err)
	}
}

func TestSSOUnlinkKeepsTheLastWayToSignIn(t *testing.T) {
	f, _ := ssoFixture(t, false)
	ctx := context.Background()
	// A user who never had a password: the provider is their only way in.
	u := &auth.User{AccountID: 1, Username: "pat", Role: auth.RoleMember, CreatedAt: f.clock.Now()}
	if err := f.store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := f.store.LinkIdentity(ctx, &auth.LinkedIdentity{UserID: u.ID, Provider: "acme", Subject: "s-pat", LinkedAt: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	p := &fakeProvider{verifier: map[string]string{}, ids: map[string]auth.SSOIdentity{"code-pat": {Subject: "s-pat"}}}
	f.svc = auth.NewService(f.store, f.hasher, f.clock, auth.Config{SessionTTL: time.Hour, SSO: auth.SSOConfig{
		Providers: map[string]auth.SSOProviderConfig{"acme": {Provider: p}},
	}})
	res, err := run(t, f, ctx, "code-pat", false)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := f.svc.Authenticate(ctx, res.Session.Token)
	if err != nil {
		t.Fatal(err)
	}
	pat := auth.WithPrincipal(ctx, pr)
	if _, err := f.svc.UnlinkIdentity(pat, "acme", "s-pat"); code(err) != auth.CodeConflict {
		t.Errorf("unlinking the only way to sign in: %v", err)
	}
}

func TestSSOProviderSignsInItsOwnAccountOnly(t *testing.T) {
	f, _ := ssoFixture(t, true)
	admin := f.as(t, "admin", "admin-password")
	if _, err := f.svc.CreateAccount(admin, "initech", "Initech"); err != nil {
		t.Fatal(err)
	}
	u, err := f.svc.CreateUserInAccount(admin, "initech", "peter", "peter-password", "")
	if err != nil {
		t.Fatal(err)
	}
	// Same verified address as dave's, but in another account: email linking looks in the
	// provider's account only, so it links dave.
	if _, err := f.store.SetEmail(context.Background(), u.ID, "dave@example.com", true); err != nil {
		t.Fatal(err)
	}
	res, err := run(t, f, context.Background(), "code-dave", false)
	if err != nil || res.Session.Session.UserID == u.ID {
		t.Fatalf("email linking crossed accounts: %+v, %v", res, err)
	}
	peter, err := f.svc.LoginPassword(context.Background(), "peter", "peter-password", "")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := f.svc.Authenticate(context.Background(), peter.Token)
	if _, err := run(t, f, auth.WithPrincipal(context.Background(), p), "code-stranger", true); code(err) != auth.CodeForbidden {
		t.Errorf("linking a provider of another account: %v", err)
	}
	// A link made behind the service's back (a provider moved to another account) signs
	// nobody in.
	if err := f.store.LinkIdentity(context.Background(), &auth.LinkedIdentity{UserID: u.ID, Provider: "acme", Subject: "s-stranger", LinkedAt: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, f, context.Background(), "code-stranger", false); code(err) != auth.CodeInvalidCredentials {
		t.Errorf("a link to a user of another account: %v", err)
	}
}

func TestSSOProvisionsOnlyWhenSignUpIsOpen(t *testing.T) {
	newProvisioning := func(t *testing.T, provision bool, policy auth.SignUpPolicy, domains ...string) (*fixture, *fakeProvider) {
		f, p := ssoFixture(t, false)
		p.ids["code-new"] = auth.SSOIdentity{Subject: "s-new", Email: "New.Person@Example.com", EmailVerified: true}
		p.ids["code-new-unverified"] = auth.SSOIdentity{Subject: "s-new-2", Email: "other@example.com"}
		f.svc = auth.NewService(f.store, f.hasher, f.clock, auth.Config{SessionTTL: time.Hour,
			SignUp: auth.SignUpConfig{Policy: policy, AllowedDomains: domains},
			SSO:    auth.SSOConfig{Providers: map[string]auth.SSOProviderConfig{"acme": {Provider: p, Provision: provision}}}})
		return f, p
	}
	for _, tt := range []struct {
		name      string
		provision bool
		policy    auth.SignUpPolicy
		domains   []string
		code      string
		want      auth.Code
	}{
		{"provisioning off", false, auth.SignUpOpen, nil, "code-new", auth.CodeIdentityNotLinked},
		{"sign-up closed", true, auth.SignUpClosed, nil, "code-new", auth.CodeIdentityNotLinked},
		{"sign-up by invitation", true, auth.SignUpInvite, nil, "code-new", auth.CodeIdentityNotLinked},
		{"a domain sign-up does not admit", true, auth.SignUpOpen, []string{"example.org"}, "code-new", auth.CodeIdentityNotLinked},
		{"an unverified address", true, auth.SignUpOpen, nil, "code-new-unverified", auth.CodeIdentityNotLinked},
		// dave has the address: he links the provider himself, no second user is made.
		{"an address a user has", true, auth.SignUpOpen, nil, "code-dave", auth.CodeIdentityNotLinked},
		{"open sign-up", true, auth.SignUpOpen, []string{"example.com"}, "code-new", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := newProvisioning(t, tt.provision, tt.policy, tt.domains...)
			before, _ := f.store.CountUsers(context.Background())
			res, err := run(t, f, context.Background(), tt.code, false)
			if code(err) != tt.want {
				t.Fatalf("code %q, want %q (%v)", code(err), tt.want, err)
			}
			after, _ := f.store.CountUsers(context.Background())
			if tt.want != "" {
				if after != before {
					t.Errorf("refused, yet %d users were made", after-before)
				}
				return
			}
			u, err := f.store.User(context.Background(), res.Session.Session.UserID)
			if err != nil || u.Username != "new.person@example.com" || u.Email != "new.person@example.com" || !u.EmailVerified || u.Role != auth.RoleMember {
				t.Fatalf("provisioned user %+v, %v", u, err)
			}
			// No password signs the new user in.
			if _, err := f.svc.LoginPassword(context.Background(), u.Username, "", ""); code(err) == "" {
				t.Errorf("an empty password signs the provisioned user in")
			}
			// The next sign-in finds the link; no second user.
			if res2, err := run(t, f, context.Background(), tt.code, false); err != nil || res2.Session.Session.UserID != u.ID {
				t.Errorf("second sign-in: %+v, %v", res2, err)
			}
			if n, _ := f.store.CountUsers(context.Background()); n != before+1 {
				t.Errorf("%d users made, want 1", n-before)
			}
		})
	}
}

// TestSSOAppCode: a flow an app started ends with a one-time code at the app's redirect URI,
// which only the app's verifier trades, once, for the same redirect URI; a user disabled or
// an identity unlinked between the callback and the trade gets no session.
func TestSSOAppCode(t *testing.T) {
	f, _ := ssoFixture(t, true)
	const verifier = "app-verifier-app-verifier-app-verifier-app-verifier"
	sum := sha256.Sum256([]byte(verifier))
	app := auth.SSOApp{RedirectURI: "http://127.0.0.1:5555/cb", State: "app-state",
		CodeChallenge: base64.RawURLEncoding.EncodeToString(sum[:]), CodeChallengeMethod: "S256"}
	ctx := context.Background()
	codeFor := func(t *testing.T, providerCode string) string {
		t.Helper()
		st, err := f.svc.StartSSOForApp(ctx, "acme", app)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(st.URL)
		res, err := f.svc.FinishSSO(ctx, "acme", u.Query().Get("state"), st.Binding, providerCode)
		if err != nil {
			t.Fatal(err)
		}
		if res.Session != nil {
			t.Fatalf("an app's flow made a session")
		}
		back, _ := url.Parse(res.AppRedirect)
		if back.Query().Get("state") != "app-state" || back.Host != "127.0.0.1:5555" {
			t.Fatalf("AppRedirect %s", res.AppRedirect)
		}
		return back.Query().Get("code")
	}
	trade := func(code, verifier, redirect string) error {
		_, err := f.svc.LoginAuthorizationCode(ctx, auth.AuthorizationCodeLogin{Provider: "acme", Code: code, CodeVerifier: verifier, RedirectURI: redirect})
		return err
	}
	c := codeFor(t, "code-dave")
	if err := trade(c, verifier, app.RedirectURI); err != nil {
		t.Fatalf("trade: %v", err)
	}
	if err := trade(c, verifier, app.RedirectURI); code(err) != auth.CodeInvalidCredentials {
		t.Errorf("a second trade: %v", err)
	}
	// The time limit, on the service's clock.
	c = codeFor(t, "code-dave")
	f.clock.Advance(auth.AppCodeTTL + time.Second)
	if err := trade(c, verifier, app.RedirectURI); code(err) != auth.CodeInvalidCredentials {
		t.Errorf("an expired code: %v", err)
	}
	// Disabled between the callback and the trade.
	dave, _ := f.store.UserByUsername(ctx, 1, "dave")
	c = codeFor(t, "code-dave")
	if _, err := f.store.UpdateUser(ctx, dave.ID, func(u *auth.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := trade(c, verifier, app.RedirectURI); code(err) != auth.CodeInvalidCredentials {
		t.Errorf("a code of a user disabled since: %v", err)
	}
	if _, err := f.store.UpdateUser(ctx, dave.ID, func(u *auth.User) error { u.Disabled = false; return nil }); err != nil {
		t.Fatal(err)
	}
	// Unlinked between the callback and the trade.
	c = codeFor(t, "code-dave")
	if _, err := f.store.UnlinkIdentity(ctx, dave.ID, "acme", "s-dave"); err != nil {
		t.Fatal(err)
	}
	if err := trade(c, verifier, app.RedirectURI); code(err) != auth.CodeInvalidCredentials {
		t.Errorf("a code of an identity unlinked since: %v", err)
	}
	// A private-use scheme (a mobile app's redirect) keeps its form.
	st, err := f.svc.StartSSOForApp(ctx, "acme", auth.SSOApp{RedirectURI: "com.example.app:/oauth2redirect", State: "s",
		CodeChallenge: app.CodeChallenge, CodeChallengeMethod: "S256"})
	if err != nil {
		t.Fatal(err)
	}
	su, _ := url.Parse(st.URL)
	res, err := f.svc.FinishSSO(ctx, "acme", su.Query().Get("state"), st.Binding, "code-dave")
	if err != nil || !strings.HasPrefix(res.AppRedirect, "com.example.app:/oauth2redirect?code=agc_") {
		t.Errorf("a private-use redirect URI: %+v, %v", res, err)
	}
	// Refused at the start: no S256, no challenge.
	for _, bad := range []auth.SSOApp{
		{RedirectURI: app.RedirectURI, CodeChallenge: verifier[:43], CodeChallengeMethod: "plain"},
		{RedirectURI: app.RedirectURI, CodeChallengeMethod: "S256"},
		{RedirectURI: app.RedirectURI, CodeChallenge: app.CodeChallenge, CodeChallengeMethod: "S256", State: "a\nb"},
	} {
		if _, err := f.svc.StartSSOForApp(ctx, "acme", bad); code(err) != auth.CodeInvalidInput {
			t.Errorf("StartSSOForApp(%+v): %v", bad, err)
		}
	}
}
