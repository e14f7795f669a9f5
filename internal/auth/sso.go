package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/authgraph/authgraph/internal/token"
)

// Single sign-on through the authorization code flow: "Sign in with <provider>". The
// protocol (PKCE, the code exchange, the ID token's signature, issuer, audience, expiry and
// nonce) is the SSOProvider's, which the server builds on maintained OpenID Connect
// libraries; the domain keeps the flow's state and decides who the identity is here.
//
// The rules:
//
//   - A flow starts (StartSSO) with a random state, nonce and PKCE verifier, kept in the store
//     under the state's digest for SSOConfig.FlowTTL and bound to the starting browser by a
//     second secret (the binding) that the HTTP layer puts in a short-lived HttpOnly cookie.
//     The callback (FinishSSO) consumes the flow first: a state works once, whatever happens
//     next, and only with the browser's binding, for the provider it was started for.
//   - returnTo is a same-origin path ("/account", never "//host" or "https://…"): the flow
//     cannot be used to send a user elsewhere (CheckReturnTo).
//   - An identity is (provider, subject). A linked one signs in as its user.
//   - An identity that is not linked is linked to the local user with the same email only if
//     the provider is configured to be trusted for it (SSOProviderConfig.LinkByVerifiedEmail),
//     the provider says the email is verified, and the local user verified that address
//     too. An unverified email never links: anyone can claim one at some provider, and that
//     would take the account over. Otherwise the sign-in is refused with
//     IDENTITY_NOT_LINKED: the user signs in another way and links the provider from there.
//   - Users are made here only for a provider configured to (SSOProviderConfig.Provision),
//     in an account whose sign-up is OPEN, for a verified address no user of the account
//     has (provision).
//   - A provider signs in the users of its configured account only (SSOProviderConfig.Account),
//     and a user can link only a provider of their own account. The deployment's
//     RequireVerifiedEmail applies as it does to a password sign-in.
//   - Linking (a flow started with a session) needs a recent sign-in
//     (RequireRecentAuthentication) and an identity not linked to anyone; unlinking refuses
//     to remove the user's last way to sign in.
//   - A provider that cannot be reached answers SERVICE_UNAVAILABLE and leaves nothing
//     behind; a code, state or token refused is INVALID_CREDENTIALS.
//   - An app (single-page, mobile, or a command line) may run this flow instead of its own
//     (StartSSOForApp): its redirect URI must be one the provider allows for apps (exactly,
//     or a loopback one on any port), and it sends the S256 challenge of its own PKCE
//     verifier and its own state. The callback then makes no session: it stores a one-time
//     code (AppCode: random, only its digest kept, single use, AppCodeTTL) bound to the
//     provider, the redirect URI, the challenge and the user, and sends the browser to the
//     app's redirect URI with it. The app trades it with its verifier
//     (LoginAuthorizationCode); whatever goes wrong there, the code is spent.

// SSOIdentity is who the provider says signed in, from an ID token it signed.
type SSOIdentity struct {
	Subject       string
	Email         string
	EmailVerified bool
}

// SSOProvider runs the protocol with one provider. The server adapts internal/sso to it.
// Errors of Exchange wrap ErrExternalTokenRejected (a code, verifier, nonce or token refused)
// or ErrUnavailable (the provider cannot be reached); they never hold a code or token.
type SSOProvider interface {
	// AuthURL is where the browser is sent to sign in: the provider's authorization
	// endpoint with state, nonce, the S256 challenge of verifier and the server's callback.
	// It may need the provider's metadata, hence ctx and ErrUnavailable.
	AuthURL(ctx context.Context, state, nonce, verifier string) (string, error)
	// Exchange trades code and its PKCE verifier for the identity in the ID token, whose
	// nonce must be nonce; "" (a client that ran the flow without one) checks none.
	// redirectURI "" is the server's own callback.
	Exchange(ctx context.Context, code, verifier, redirectURI, nonce string) (SSOIdentity, error)
	// AllowsRedirect reports whether a client that runs the flow itself may use redirectURI.
	AllowsRedirect(redirectURI string) bool
}

// SSOProviderConfig is one provider and the local rules that apply to its identities.
type SSOProviderConfig struct {
	Provider SSOProvider
	// Account is the slug of the account whose users the provider signs in; "" is the
	// default account.
	Account string
	// LinkByVerifiedEmail lets a first sign-in link to the local user with the same
	// verified email, when the provider says its email is verified. Turn it on only for a
	// provider that verifies every address it vouches for, and whose users cannot set an
	// address of a domain they do not own.
	LinkByVerifiedEmail bool
	// DisplayName is what the account page shows ("Sign in with …"); "" is the name.
	DisplayName string
	// Provision makes a user at the first sign-in of an identity that is not linked and not
	// linkable, when the account's sign-up policy is OPEN (and its domains admit the address)
	// and the provider says the email is verified: the user's username and verified email are
	// that address, and no password signs them in.
	Provision bool
}

// SSOConfig is Config.SSO.
type SSOConfig struct {
	// Providers by name: [a-z0-9-], the {provider} of /auth/{provider}/start.
	Providers map[string]SSOProviderConfig
	// FlowTTL is how long a started flow may take to come back; 0 is DefaultSSOFlowTTL.
	FlowTTL time.Duration
}

// DefaultSSOFlowTTL bounds how long a sign-in at the provider may take.
const DefaultSSOFlowTTL = 10 * time.Minute

// CodeIdentityNotLinked: the provider's identity is genuine but linked to no user here, and
// the rules do not allow linking it by email.
const CodeIdentityNotLinked Code = "IDENTITY_NOT_LINKED"

// MsgIdentityNotLinked is the one message of CodeIdentityNotLinked.
const MsgIdentityNotLinked = "No user here is linked to that identity. Sign in another way and link it from your account."

// MsgSSOOff answers a flow for a provider that is not configured.
const MsgSSOOff = "Unknown sign-in provider."

// SSOProviderNames lists the configured providers, sorted, with their display names.
func (s *Service) SSOProviderNames() []SSOProviderName {
	out := make([]SSOProviderName, 0, len(s.cfg.SSO.Providers))
	for name, p := range s.cfg.SSO.Providers {
		out = append(out, SSOProviderName{Name: name, DisplayName: cmpOr(p.DisplayName, name)})
	}
	slices.SortFunc(out, func(a, b SSOProviderName) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// SSOProviderName is a configured provider as a page shows it.
type SSOProviderName struct{ Name, DisplayName string }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (s *Service) ssoProvider(name string) (SSOProviderConfig, error) {
	p, ok := s.cfg.SSO.Providers[name]
	if !ok || p.Provider == nil {
		return SSOProviderConfig{}, &Error{Code: CodeInvalidInput, Message: MsgSSOOff}
	}
	return p, nil
}

// AppCodeTTL is how long a one-time code handed to an app at its redirect URI lasts: the app
// trades it at once, and a code that leaked (a log, a history) is soon worth nothing.
const AppCodeTTL = time.Minute

// SSOApp is what an app that runs authgraph's flow sends to its start.
type SSOApp struct {
	// RedirectURI is where the browser brings the one-time code back; one the provider
	// allows for apps (SSOProvider.AllowsRedirect).
	RedirectURI string
	// State is the app's own state, echoed to RedirectURI; at most 512 printable characters.
	State string
	// CodeChallenge is the S256 challenge of the app's PKCE verifier (RFC 7636); the method
	// must be "S256".
	CodeChallenge, CodeChallengeMethod string
}

func (a SSOApp) check(p SSOProviderConfig) error {
	if !p.Provider.AllowsRedirect(a.RedirectURI) {
		return Errorf(CodeInvalidInput, "redirect is not a path on this site nor a redirect URI this provider allows for apps")
	}
	if a.CodeChallengeMethod != "S256" {
		return Errorf(CodeInvalidInput, "code_challenge_method must be S256")
	}
	if len(a.CodeChallenge) != 43 || strings.Trim(a.CodeChallenge, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return Errorf(CodeInvalidInput, "code_challenge must be the 43-character base64url S256 challenge of a verifier (RFC 7636)")
	}
	if len(a.State) > 512 {
		return Errorf(CodeInvalidInput, "state is longer than 512 characters")
	}
	for i := 0; i < len(a.State); i++ {
		if c := a.State[i]; c < 0x20 || c >= 0x7f {
			return Errorf(CodeInvalidInput, "state must be printable ASCII")
		}
	}
	return nil
}

// CheckReturnTo answers nil if p is a path on this origin that a flow may end on: it starts
// with one "/" (not "//" or "/\", which browsers take for another host), holds no scheme,
// host, backslash or control character, and is at most 512 bytes.
func CheckReturnTo(p string) error {
	bad := Errorf(CodeInvalidInput, "returnTo must be a path on this site, such as /account")
	if p == "" || len(p) > 512 || p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\") {
		return bad
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return bad
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return bad
	}
	return nil
}

// SSOStart is a started flow: where to send the browser, and the binding secret to put in
// its cookie until ExpiresAt.
type SSOStart struct {
	URL, Binding string
	ExpiresAt    time.Time
}

// StartSSO starts a flow with provider that ends on returnTo. With link, the flow links the
// provider's identity to the signed-in user (who must have signed in recently) instead of
// signing in.
func (s *Service) StartSSO(ctx context.Context, provider, returnTo string, link bool) (*SSOStart, error) {
	p, err := s.ssoProvider(provider)
	if err != nil {
		return nil, err
	}
	if err := CheckReturnTo(returnTo); err != nil {
		return nil, err
	}
	f := &AuthFlow{Provider: provider, ReturnTo: returnTo}
	if link {
		if _, err := requireScope(ctx, ScopeAccountWrite); err != nil {
			return nil, err
		}
		if err := s.RequireRecentAuthentication(ctx); err != nil {
			return nil, err
		}
		f.LinkUserID = PrincipalFrom(ctx).User.ID
	}
	return s.startFlow(ctx, p, f)
}

// StartSSOForApp starts a flow with provider for an app: it ends with a one-time code sent to
// app.RedirectURI, which the app trades with LoginAuthorizationCode.
func (s *Service) StartSSOForApp(ctx context.Context, provider string, app SSOApp) (*SSOStart, error) {
	p, err := s.ssoProvider(provider)
	if err != nil {
		return nil, err
	}
	if err := app.check(p); err != nil {
		return nil, err
	}
	return s.startFlow(ctx, p, &AuthFlow{Provider: provider, AppRedirect: app.RedirectURI, AppState: app.State, AppChallenge: app.CodeChallenge})
}

// startFlow fills f's secrets and expiry, and stores it once the provider gave its URL.
func (s *Service) startFlow(ctx context.Context, p SSOProviderConfig, f *AuthFlow) (*SSOStart, error) {
	// Each start writes a flow: counted per address before anything is written.
	if err := s.checkLimit(ctx, AttemptSSO, ClientFrom(ctx).IP, ""); err != nil {
		return nil, err
	}
	var secrets [4]string // state, binding, nonce, verifier
	for i := range secrets {
		secrets[i] = rand.Text() + rand.Text() // 2×26 base32 characters: 260 random bits
	}
	state, binding := secrets[0], secrets[1]
	f.StateDigest, f.Binding, f.Nonce, f.Verifier = token.Sum(state), token.Sum(binding), secrets[2], secrets[3]
	f.ExpiresAt = s.clock.Now().UTC().Add(s.ssoFlowTTL())
	// The URL first: a provider that is down leaves no flow behind.
	u, err := p.Provider.AuthURL(ctx, state, f.Nonce, f.Verifier)
	if err != nil {
		return nil, fmt.Errorf("identity provider: %w", err)
	}
	if err := s.identities.CreateAuthFlow(ctx, f); err != nil {
		return nil, fmt.Errorf("save auth flow: %w", err)
	}
	return &SSOStart{URL: u, Binding: binding, ExpiresAt: f.ExpiresAt}, nil
}

func (s *Service) ssoFlowTTL() time.Duration {
	if s.cfg.SSO.FlowTTL > 0 {
		return s.cfg.SSO.FlowTTL
	}
	return DefaultSSOFlowTTL
}

// SSOResult is how a flow ended: a session (a sign-in), a link, or a one-time code for an
// app, and where to go.
type SSOResult struct {
	Session  *NewSession // nil for a link or an app's flow
	Linked   *LinkedIdentity
	ReturnTo string
	// AppRedirect, for a flow an app started, is where the browser goes instead of ReturnTo:
	// the app's redirect URI with the one-time code and the app's state, or (answered with
	// the error) with an OAuth error and the app's state.
	AppRedirect string
}

// FinishSSO ends the flow that state names, in the browser that holds binding, with the
// code the provider sent back. It consumes the flow before anything else: a state is never
// used twice. For a flow an app started, a refusal once the flow is known to be this
// browser's comes with a result too, whose AppRedirect tells the app (RFC 6749 4.1.2.1).
func (s *Service) FinishSSO(ctx context.Context, provider, state, binding, code string) (*SSOResult, error) {
	p, err := s.ssoProvider(provider)
	if err != nil {
		return nil, err
	}
	if err := s.checkLimit(ctx, AttemptSSO, ClientFrom(ctx).IP, ""); err != nil {
		return nil, err
	}
	if state == "" || len(state) > 256 || len(binding) > 256 || code == "" || len(code) > maxExternalTokenLen {
		return nil, rejectedExternal("sso: empty or oversized state, binding or code")
	}
	f, err := s.identities.ConsumeAuthFlow(ctx, token.Sum(state))
	if errors.Is(err, ErrNotFound) {
		return nil, rejectedExternal("sso: unknown, used or expired state")
	}
	if err != nil {
		return nil, fmt.Errorf("consume auth flow: %w", err)
	}
	b := token.Sum(binding)
	if subtle.ConstantTimeCompare(b[:], f.Binding[:]) != 1 {
		return nil, rejectedExternal("sso: state not started by this browser")
	}
	if f.Provider != provider {
		return nil, rejectedExternal("sso: state of provider %q came back to %q", f.Provider, provider)
	}
	if f.AppRedirect != "" {
		return s.finishForApp(ctx, provider, p, f, code)
	}
	id, err := s.exchange(ctx, p, code, f.Verifier, "", f.Nonce)
	if err != nil {
		return nil, err
	}
	if f.LinkUserID != 0 {
		l, err := s.link(ctx, p, provider, f.LinkUserID, id)
		if err != nil {
			return nil, err
		}
		return &SSOResult{Linked: l, ReturnTo: f.ReturnTo}, nil
	}
	ns, err := s.ssoSignIn(ctx, provider, p, id, "")
	if err != nil {
		return nil, err
	}
	return &SSOResult{Session: ns, ReturnTo: f.ReturnTo}, nil
}

// AbandonSSO ends the flow that state names when the provider answered an error instead of
// a code (the user declined, say): the flow is consumed, and for a flow an app started in
// this browser the answer is where to tell the app (its redirect URI with error and its
// state); "" otherwise.
func (s *Service) AbandonSSO(ctx context.Context, provider, state, binding, providerError string) string {
	if _, err := s.ssoProvider(provider); err != nil || state == "" || len(state) > 256 || len(binding) > 256 {
		return ""
	}
	if err := s.checkLimit(ctx, AttemptSSO, ClientFrom(ctx).IP, ""); err != nil {
		return ""
	}
	f, err := s.identities.ConsumeAuthFlow(ctx, token.Sum(state))
	if err != nil || f.AppRedirect == "" || f.Provider != provider {
		return ""
	}
	b := token.Sum(binding)
	if subtle.ConstantTimeCompare(b[:], f.Binding[:]) != 1 {
		return ""
	}
	e := "access_denied"
	if providerError == "temporarily_unavailable" || providerError == "server_error" {
		e = providerError
	}
	return withQuery(f.AppRedirect, "error", e, "state", f.AppState)
}

// finishForApp ends an app's flow: the identity is resolved to a user as a sign-in would be,
// and a one-time code for that user is stored and sent to the app's redirect URI.
func (s *Service) finishForApp(ctx context.Context, provider string, p SSOProviderConfig, f *AuthFlow, code string) (*SSOResult, error) {
	fail := func(err error) (*SSOResult, error) {
		e := "access_denied"
		switch ErrorCode(err) {
		case CodeUnavailable:
			e = "temporarily_unavailable"
		case "":
			e = "server_error"
		}
		desc := string(ErrorCode(err))
		return &SSOResult{AppRedirect: withQuery(f.AppRedirect, "error", e, "error_description", desc, "state", f.AppState)}, err
	}
	id, err := s.exchange(ctx, p, code, f.Verifier, "", f.Nonce)
	if err != nil {
		return fail(err)
	}
	u, err := s.ssoUser(ctx, provider, p, id)
	if err != nil {
		return fail(err)
	}
	plain, err := token.New(token.AppCode)
	if err != nil {
		return fail(fmt.Errorf("new app code: %w", err))
	}
	c := &AppCode{
		Digest: token.Sum(plain), Provider: provider, RedirectURI: f.AppRedirect, Challenge: f.AppChallenge,
		UserID: u.ID, Subject: id.Subject, ExpiresAt: s.clock.Now().UTC().Add(AppCodeTTL),
	}
	if err := s.identities.CreateAppCode(ctx, c); err != nil {
		return fail(fmt.Errorf("save app code: %w", err))
	}
	return &SSOResult{AppRedirect: withQuery(f.AppRedirect, "code", plain, "state", f.AppState)}, nil
}

// withQuery adds name/value pairs to the query of uri (an absolute URI the provider allows,
// so it parses); an empty value is left out.
func withQuery(uri string, kv ...string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// AuthorizationCodeLogin is a sign-in by a client that ran the authorization code flow
// itself (a single-page or native app with its own PKCE verifier and nonce).
type AuthorizationCodeLogin struct {
	Provider, Code, CodeVerifier, RedirectURI string
	// Nonce, if the client sent one, must be the ID token's.
	Nonce string
	Name  string
}

// LoginAuthorizationCode trades a client's authorization code for a session: a code of the
// provider's, whose redirect URI must be one the provider's configuration allows for clients,
// or a one-time code of authgraph's own flow (its prefix tells), see tradeAppCode.
func (s *Service) LoginAuthorizationCode(ctx context.Context, in AuthorizationCodeLogin, opts ...LoginOption) (*NewSession, error) {
	p, err := s.ssoProvider(in.Provider)
	if err != nil {
		return nil, err
	}
	if err := checkLabel("name", in.Name); err != nil {
		return nil, err
	}
	if err := s.checkLimit(ctx, AttemptSSO, ClientFrom(ctx).IP, ""); err != nil {
		return nil, err
	}
	if strings.HasPrefix(in.Code, token.Prefix(token.AppCode)) {
		return s.tradeAppCode(ctx, p, in, opts)
	}
	if !p.Provider.AllowsRedirect(in.RedirectURI) {
		return nil, Errorf(CodeInvalidInput, "redirectUri is not one this provider allows for clients")
	}
	// RFC 7636: a verifier is 43 to 128 characters; without one, the code could be one
	// stolen from another client's redirect.
	if n := len(in.CodeVerifier); n < 43 || n > 128 {
		return nil, Errorf(CodeInvalidInput, "codeVerifier must be 43 to 128 characters (RFC 7636)")
	}
	if in.Code == "" || len(in.Code) > maxExternalTokenLen || len(in.Nonce) > 256 {
		return nil, rejectedExternal("sso: empty or oversized code or nonce")
	}
	id, err := s.exchange(ctx, p, in.Code, in.CodeVerifier, in.RedirectURI, in.Nonce)
	if err != nil {
		return nil, err
	}
	return s.ssoSignIn(ctx, in.Provider, p, id, in.Name, opts...)
}

// tradeAppCode trades a one-time code of authgraph's flow. The code is consumed first, so
// that it is spent whatever follows; then everything it is bound to must match: the provider,
// the redirect URI (exactly: RFC 6749 4.1.3), and the verifier of the flow's S256 challenge.
// The user is checked again, as a minute may have passed since the callback.
func (s *Service) tradeAppCode(ctx context.Context, p SSOProviderConfig, in AuthorizationCodeLogin, opts []LoginOption) (*NewSession, error) {
	if token.Check(token.AppCode, in.Code) != nil {
		return nil, rejectedExternal("sso: malformed app code")
	}
	c, err := s.identities.ConsumeAppCode(ctx, token.Sum(in.Code))
	if errors.Is(err, ErrNotFound) {
		return nil, rejectedExternal("sso: unknown, used or expired app code")
	} else if err != nil {
		return nil, fmt.Errorf("consume app code: %w", err)
	}
	if c.Provider != in.Provider {
		return nil, rejectedExternal("sso: app code of provider %q traded for %q", c.Provider, in.Provider)
	}
	if subtle.ConstantTimeCompare([]byte(c.RedirectURI), []byte(in.RedirectURI)) != 1 {
		return nil, rejectedExternal("sso: app code traded with another redirect URI than its flow's")
	}
	sum := sha256.Sum256([]byte(in.CodeVerifier))
	if n := len(in.CodeVerifier); n < 43 || n > 128 ||
		subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(c.Challenge)) != 1 {
		return nil, rejectedExternal("sso: the code verifier does not match the app code's challenge")
	}
	// Unlinked (or linked to another user) since the callback: the code signs nobody in.
	l, err := s.identities.IdentityBySubject(ctx, c.Provider, c.Subject)
	if errors.Is(err, ErrNotFound) || (err == nil && l.UserID != c.UserID) {
		return nil, rejectedExternal("sso: the app code's identity is no longer linked to user %d", c.UserID)
	} else if err != nil {
		return nil, fmt.Errorf("find identity: %w", err)
	}
	u, err := s.users.User(ctx, c.UserID)
	if errors.Is(err, ErrNotFound) {
		return nil, rejectedExternal("sso: the app code's user is gone")
	} else if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	if err := s.checkSSOUser(ctx, c.Provider, p, u, c.Subject); err != nil {
		return nil, err
	}
	return s.startSession(ctx, &Session{UserID: u.ID, Method: MethodExternal, Name: in.Name}, opts)
}

// exchange asks the provider, mapping its errors to the domain's.
func (s *Service) exchange(ctx context.Context, p SSOProviderConfig, code, verifier, redirectURI, nonce string) (SSOIdentity, error) {
	id, err := p.Provider.Exchange(ctx, code, verifier, redirectURI, nonce)
	switch {
	case err == nil:
	case errors.Is(err, ErrUnavailable):
		return SSOIdentity{}, fmt.Errorf("identity provider: %w", err)
	case errors.Is(err, ErrExternalTokenRejected):
		return SSOIdentity{}, fmt.Errorf("%w (%w)", invalidCredentials(), err)
	default:
		return SSOIdentity{}, fmt.Errorf("authorization code exchange: %w", err)
	}
	if id.Subject == "" {
		return SSOIdentity{}, rejectedExternal("sso: ID token without a subject")
	}
	return id, nil
}

// ssoSignIn signs in as the user the identity is linked to, linking it first by email when
// the rules allow (see the top of this file).
func (s *Service) ssoSignIn(ctx context.Context, provider string, p SSOProviderConfig, id SSOIdentity, name string, opts ...LoginOption) (*NewSession, error) {
	u, err := s.ssoUser(ctx, provider, p, id)
	if err != nil {
		return nil, err
	}
	return s.startSession(ctx, &Session{UserID: u.ID, Method: MethodExternal, Name: name}, opts)
}

// ssoUser answers the user the identity signs in as: the one it is linked to, or the one the
// rules link it to (by email, or by provisioning), provided they may sign in.
func (s *Service) ssoUser(ctx context.Context, provider string, p SSOProviderConfig, id SSOIdentity) (*User, error) {
	var u *User
	l, err := s.identities.IdentityBySubject(ctx, provider, id.Subject)
	switch {
	case err == nil:
		if u, err = s.users.User(ctx, l.UserID); err != nil {
			return nil, fmt.Errorf("linked user: %w", err)
		}
	case errors.Is(err, ErrNotFound):
		u, err = s.linkByEmail(ctx, provider, p, id)
		if ErrorCode(err) == CodeIdentityNotLinked && p.Provision {
			u, err = s.provision(ctx, provider, p, id)
		}
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("find identity: %w", err)
	}
	if err := s.checkSSOUser(ctx, provider, p, u, id.Subject); err != nil {
		return nil, err
	}
	return u, nil
}

// checkSSOUser answers nil if u, whom subject at provider is linked to, may sign in through p.
func (s *Service) checkSSOUser(ctx context.Context, provider string, p SSOProviderConfig, u *User, subject string) error {
	if u.Disabled {
		return rejectedExternal("sso: provider %q, subject %q: user %d is disabled", provider, subject, u.ID)
	}
	// A provider signs in the users of its own account only, whatever a link says.
	if aid, err := s.providerAccount(ctx, p); err != nil {
		return err
	} else if u.AccountID != aid {
		return rejectedExternal("sso: provider %q, subject %q: user %d is not in the provider's account", provider, subject, u.ID)
	}
	return s.checkEmailVerified(u)
}

// linkByEmail finds the user an unlinked identity may be linked to by its email, and links
// it; IDENTITY_NOT_LINKED when the rules do not allow it.
func (s *Service) linkByEmail(ctx context.Context, provider string, p SSOProviderConfig, id SSOIdentity) (*User, error) {
	notLinked := &Error{Code: CodeIdentityNotLinked, Message: MsgIdentityNotLinked}
	if !p.LinkByVerifiedEmail || !id.EmailVerified || id.Email == "" {
		return nil, notLinked
	}
	// Only an address that is already in normal form links: NormalizeEmail folds look-alike
	// characters (NFKC), and a provider's verified "ａlice@…" is another mailbox than
	// "alice@…".
	email, err := NormalizeEmail(id.Email)
	if err != nil || email != strings.ToLower(id.Email) {
		return nil, notLinked
	}
	aid, err := s.providerAccount(ctx, p)
	if err != nil {
		return nil, err
	}
	u, err := s.emails.UserByEmail(ctx, aid, email)
	if errors.Is(err, ErrNotFound) {
		return nil, notLinked
	} else if err != nil {
		return nil, fmt.Errorf("find user by email: %w", err)
	}
	if !u.EmailVerified || u.Disabled {
		return nil, notLinked
	}
	l := &LinkedIdentity{UserID: u.ID, Provider: provider, Subject: id.Subject, Email: email, LinkedAt: s.clock.Now().UTC()}
	if err := s.identities.LinkIdentity(ctx, l); errors.Is(err, ErrConflict) {
		// Linked meanwhile by a concurrent sign-in: sign in as whoever it is linked to.
		if l2, err := s.identities.IdentityBySubject(ctx, provider, id.Subject); err == nil {
			return s.users.User(ctx, l2.UserID)
		}
		return nil, notLinked
	} else if err != nil {
		return nil, notLinked
	}
	return u, nil
}

// providerAccount answers the id of the account whose users p signs in. A configured account
// that does not exist (deleted since) refuses every sign-in through p.
func (s *Service) providerAccount(ctx context.Context, p SSOProviderConfig) (int64, error) {
	a, err := s.accounts.AccountBySlug(ctx, cmpOr(p.Account, DefaultAccountSlug))
	if errors.Is(err, ErrNotFound) {
		return 0, rejectedExternal("sso: the provider's account %q does not exist", p.Account)
	} else if err != nil {
		return 0, fmt.Errorf("find account: %w", err)
	}
	return a.ID, nil
}

// provision makes the user of a first sign-in (SSOProviderConfig.Provision) and links the
// identity to them; IDENTITY_NOT_LINKED when the rules do not allow it. An address that a
// user of the account has, verified or not, is never provisioned again: that user links the
// provider themselves.
func (s *Service) provision(ctx context.Context, provider string, p SSOProviderConfig, id SSOIdentity) (*User, error) {
	notLinked := &Error{Code: CodeIdentityNotLinked, Message: MsgIdentityNotLinked}
	if !id.EmailVerified || id.Email == "" {
		return nil, notLinked
	}
	email, err := NormalizeEmail(id.Email)
	if err != nil || email != strings.ToLower(id.Email) {
		return nil, notLinked
	}
	a, err := s.accounts.AccountBySlug(ctx, cmpOr(p.Account, DefaultAccountSlug))
	if err != nil {
		return nil, notLinked
	}
	if s.policyOf(a) != SignUpOpen {
		return nil, notLinked
	}
	if d := s.cfg.SignUp.AllowedDomains; len(d) > 0 && !slices.Contains(d, domainOf(email)) {
		return nil, notLinked
	}
	// Counted as a sign-up is: each makes a user.
	if err := s.checkLimit(ctx, AttemptSignUp, ClientFrom(ctx).IP, email); err != nil {
		return nil, err
	}
	if _, err := s.emails.UserByEmail(ctx, a.ID, email); err == nil {
		return nil, notLinked
	} else if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("provision: %w", err)
	}
	// No password signs the user in: 256 random bits nobody sees, as an invitation's.
	unusable := rand.Text() + rand.Text()
	u, err := s.createUserWith(ctx, a.Slug, email, unusable, RoleMember, func(string) error { return nil })
	if ErrorCode(err) == CodeConflict || ErrorCode(err) == CodeNotFound {
		return nil, notLinked // the username is taken, or the account went away
	} else if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	takeBack := func() { _, _ = s.users.DeleteUser(ctx, u.ID) }
	if u, err = s.emails.SetEmail(ctx, u.ID, email, true); err != nil {
		takeBack()
		return nil, notLinked
	}
	l := &LinkedIdentity{UserID: u.ID, Provider: provider, Subject: id.Subject, Email: email, LinkedAt: s.clock.Now().UTC()}
	if err := s.identities.LinkIdentity(ctx, l); err != nil {
		// A concurrent first sign-in of the same identity made its user first.
		takeBack()
		if l2, err := s.identities.IdentityBySubject(ctx, provider, id.Subject); err == nil {
			return s.users.User(ctx, l2.UserID)
		}
		return nil, notLinked
	}
	return u, nil
}

// link links the identity to userID, the user who started the flow.
func (s *Service) link(ctx context.Context, p SSOProviderConfig, provider string, userID int64, id SSOIdentity) (*LinkedIdentity, error) {
	u, err := s.users.User(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return nil, rejectedExternal("sso: the user who started the link is gone")
	} else if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	if u.Disabled {
		return nil, rejectedExternal("sso: the user who started the link is disabled")
	}
	if aid, err := s.providerAccount(ctx, p); err != nil {
		return nil, err
	} else if u.AccountID != aid {
		return nil, Errorf(CodeForbidden, "%s signs in the users of another account.", provider)
	}
	l := &LinkedIdentity{UserID: userID, Provider: provider, Subject: id.Subject, LinkedAt: s.clock.Now().UTC()}
	if id.EmailVerified {
		l.Email = id.Email
	}
	switch err := s.identities.LinkIdentity(ctx, l); {
	case errors.Is(err, ErrConflict):
		return nil, Errorf(CodeConflict, "That %s identity is linked to a user already.", provider)
	case errors.Is(err, ErrNotFound):
		return nil, rejectedExternal("sso: the user who started the link is gone")
	case err != nil:
		return nil, fmt.Errorf("link identity: %w", err)
	}
	return l, nil
}

// Identities lists the identities linked to a user: the current user's, or one an admin may
// see (as Sessions).
func (s *Service) Identities(ctx context.Context, userID int64) ([]*LinkedIdentity, error) {
	p, err := requireScope(ctx, ScopeRead)
	if err != nil {
		return nil, err
	}
	if !canSee(p, userID) {
		return nil, Errorf(CodeNotFound, "user not found")
	}
	return s.identities.IdentitiesOf(ctx, userID)
}

// UnlinkIdentity removes one of the current user's linked identities. It needs a recent
// sign-in and the account:write scope, and refuses (CONFLICT) to remove the last way the user has to sign in: a user
// without a password keeps at least one link.
func (s *Service) UnlinkIdentity(ctx context.Context, provider, subject string) (*LinkedIdentity, error) {
	p, err := requireScope(ctx, ScopeAccountWrite)
	if err != nil {
		return nil, err
	}
	links, err := s.identities.IdentitiesOf(ctx, p.User.ID)
	if err != nil {
		return nil, fmt.Errorf("list identities: %w", err)
	}
	found := slices.ContainsFunc(links, func(l *LinkedIdentity) bool { return l.Provider == provider && l.Subject == subject })
	if !found {
		return nil, &Error{Code: CodeNotFound, Message: "No such linked identity."}
	}
	if err := s.RequireRecentAuthentication(ctx); err != nil {
		return nil, err
	}
	if p.User.PasswordHash == "" && len(links) == 1 {
		return nil, Errorf(CodeConflict, "That identity is your only way to sign in: set a password or link another provider first.")
	}
	l, err := s.identities.UnlinkIdentity(ctx, p.User.ID, provider, subject)
	if errors.Is(err, ErrNotFound) {
		return nil, &Error{Code: CodeNotFound, Message: "No such linked identity."}
	}
	return l, err
}
