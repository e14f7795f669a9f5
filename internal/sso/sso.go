// Package sso runs the OpenID Connect authorization code flow with PKCE against the
// providers an operator configures (AUTHGRAPH_SSO_PROVIDERS), for "Sign in with <provider>".
//
// The protocol is the libraries': golang.org/x/oauth2 builds the authorization URL (with the
// S256 challenge) and exchanges the code (with the verifier); github.com/coreos/go-oidc
// discovers the provider and verifies the ID token (signature against the provider's JWKS,
// issuer, audience = our client id, expiry, allowed algorithms). This package adds what they
// leave to the caller: the nonce check, the redirect URI built from the server's public URL
// (never from a request), the allow-list of client redirect URIs, and the sorting of errors
// into "refused" and "provider unavailable". It knows nothing of HTTP handlers, sessions or
// users: a Provider implements the domain's auth.SSOProvider.
package sso

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authgraph/authgraph/internal/auth"
)

// Config is one provider, as AUTHGRAPH_SSO_PROVIDERS spells it.
type Config struct {
	// Name is the provider's name in URLs (/auth/{name}/start) and in linked identities:
	// 1 to 32 of a-z, 0-9 and "-". Renaming it unlinks every identity of the provider.
	Name string `json:"name"`
	// DisplayName is what a page shows ("Sign in with …"); empty is Name.
	DisplayName string `json:"display_name,omitempty"`
	// Issuer is the provider's issuer URL; its discovery document is read from
	// Issuer + "/.well-known/openid-configuration". https, or http on a loopback host.
	Issuer string `json:"issuer"`
	// ClientID and ClientSecret are the credentials of authgraph's client at the provider.
	// The secret may be empty for a public client (PKCE alone).
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
	// Scopes asked for; empty is openid, email, profile. "openid" is always added.
	Scopes []string `json:"scopes,omitempty"`
	// Algorithms the ID token may be signed with; empty is RS256 and ES256.
	Algorithms []string `json:"algorithms,omitempty"`
	// ClientRedirectURIs are the redirect URIs that apps running the flow themselves
	// (createSessionUsingAuthorizationCode) may use, compared exactly.
	ClientRedirectURIs []string `json:"client_redirect_uris,omitempty"`
	// Account is the slug of the account whose users the provider signs in; empty is the
	// default account.
	Account string `json:"account,omitempty"`
	// LinkByVerifiedEmail lets a first sign-in link to the local user with the same
	// verified email when the provider says the email is verified. Only for a provider
	// trusted to verify every address it vouches for.
	LinkByVerifiedEmail bool `json:"link_by_verified_email,omitempty"`
	// Provision makes a user at the first sign-in of an identity linked to nobody, when the
	// account's sign-up is OPEN and the provider says the email, which no user has, is
	// verified.
	Provision bool `json:"provision,omitempty"`
}

// Parse reads AUTHGRAPH_SSO_PROVIDERS: a JSON array of Config. Unknown fields, duplicate
// names and malformed values are errors.
func Parse(text string) ([]Config, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	var cfgs []Config
	if err := dec.Decode(&cfgs); err != nil {
		return nil, fmt.Errorf("not a JSON array of providers: %w", err)
	}
	seen := map[string]bool{}
	for i, c := range cfgs {
		if err := c.check(); err != nil {
			return nil, fmt.Errorf("providers[%d] (%q): %w", i, c.Name, err)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("providers[%d]: name %q is used twice", i, c.Name)
		}
		seen[c.Name] = true
	}
	return cfgs, nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

var allowedAlgs = []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA}

func (c Config) check() error {
	if !nameRE.MatchString(c.Name) {
		return errors.New("name: 1 to 32 of a-z, 0-9 and -")
	}
	if err := checkURL(c.Issuer); err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	if c.ClientID == "" {
		return errors.New("client_id: required")
	}
	for _, a := range c.Algorithms {
		if !slices.Contains(allowedAlgs, a) {
			return fmt.Errorf("algorithms: %q is not an asymmetric JWS algorithm", a)
		}
	}
	for _, r := range c.ClientRedirectURIs {
		u, err := url.Parse(r)
		if err != nil || u.Scheme == "" || u.Fragment != "" {
			return fmt.Errorf("client_redirect_uris: %q is not an absolute URI without a fragment", r)
		}
	}
	return nil
}

// checkURL requires https, or http on a loopback host (tests run providers in-process).
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || u.RawQuery != "" {
		return fmt.Errorf("%q is not an absolute URL without credentials, query or fragment", raw)
	}
	if u.Scheme == "https" || (u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil
	}
	return fmt.Errorf("%q must use https (http only on a loopback host)", raw)
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// DefaultHTTPTimeout bounds each request to a provider: a provider that hangs costs a
// sign-in a few seconds and a SERVICE_UNAVAILABLE, never a stuck request.
const DefaultHTTPTimeout = 5 * time.Second

// Provider is one configured provider. Discovery happens on first use and is retried until
// it succeeds, so a provider that is down does not stop the server from starting.
type Provider struct {
	cfg      Config
	callback string
	client   *http.Client
	now      func() time.Time

	mu          sync.Mutex
	op          *oidc.Provider
	verifier    *oidc.IDTokenVerifier
	hasUserInfo bool
	// failed is when discovery last failed: for discoveryBackoff after it, sign-ins answer
	// unavailable at once instead of queueing behind one more try each.
	failed time.Time
}

// discoveryBackoff is how long a failed discovery is taken as the answer.
const discoveryBackoff = 2 * time.Second

var _ auth.SSOProvider = (*Provider)(nil)

// New makes the provider of cfg, whose callback is publicURL + "/auth/<name>/callback".
// client nil is a client with DefaultHTTPTimeout; now nil is time.Now.
func New(cfg Config, publicURL string, client *http.Client, now func() time.Time) (*Provider, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if _, err := url.Parse(publicURL); err != nil || publicURL == "" {
		return nil, fmt.Errorf("public URL %q: not a URL", publicURL)
	}
	if client == nil {
		client = &http.Client{Timeout: DefaultHTTPTimeout, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return checkURL(req.URL.Scheme + "://" + req.URL.Host) // never downgraded to http
		}}
	}
	if now == nil {
		now = time.Now
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"email", "profile"}
	}
	if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = []string{oidc.RS256, oidc.ES256}
	}
	return &Provider{cfg: cfg, callback: strings.TrimSuffix(publicURL, "/") + "/auth/" + cfg.Name + "/callback", client: client, now: now}, nil
}

// Config answers the provider's configuration, defaults filled in.
func (p *Provider) Config() Config { return p.cfg }

// CallbackURL is the redirect URI of the server's own flow, to register at the provider.
func (p *Provider) CallbackURL() string { return p.callback }

// discover answers the provider's metadata and ID token verifier, fetching them once.
func (p *Provider) discover(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.op != nil {
		return p.op, p.verifier, nil
	}
	if !p.failed.IsZero() && p.now().Sub(p.failed) < discoveryBackoff {
		return nil, nil, fmt.Errorf("%w: discovery of %q failed less than %v ago", auth.ErrUnavailable, p.cfg.Issuer, discoveryBackoff)
	}
	// The provider keeps this context for its key fetches: it must outlive the request.
	kctx := oidc.ClientContext(context.WithoutCancel(ctx), p.client)
	dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, p.client), DefaultHTTPTimeout)
	defer cancel()
	op, err := oidc.NewProvider(dctx, p.cfg.Issuer)
	if err != nil {
		p.failed = p.now()
		return nil, nil, fmt.Errorf("%w: discovery of %q: %w", auth.ErrUnavailable, p.cfg.Issuer, err)
	}
	// Rebuilt on the long-lived context, from the metadata just fetched.
	var meta oidc.ProviderConfig
	if err := op.Claims(&meta); err != nil {
		return nil, nil, fmt.Errorf("%w: discovery of %q: %w", auth.ErrUnavailable, p.cfg.Issuer, err)
	}
	op = meta.NewProvider(kctx)
	p.op, p.hasUserInfo = op, meta.UserInfoURL != ""
	p.verifier = op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID, SupportedSigningAlgs: p.cfg.Algorithms, Now: p.now})
	return p.op, p.verifier, nil
}

func (p *Provider) oauth2(op *oidc.Provider, redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, Endpoint: op.Endpoint(),
		RedirectURL: redirectURI, Scopes: p.cfg.Scopes,
	}
}

// AuthURL implements auth.SSOProvider.
func (p *Provider) AuthURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	op, _, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	return p.oauth2(op, p.callback).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// AllowsRedirect implements auth.SSOProvider.
func (p *Provider) AllowsRedirect(redirectURI string) bool {
	return redirectURI != "" && slices.Contains(p.cfg.ClientRedirectURIs, redirectURI)
}

// Exchange implements auth.SSOProvider.
func (p *Provider) Exchange(ctx context.Context, code, verifier, redirectURI, nonce string) (auth.SSOIdentity, error) {
	op, idv, err := p.discover(ctx)
	if err != nil {
		return auth.SSOIdentity{}, err
	}
	if redirectURI == "" {
		redirectURI = p.callback
	}
	tok, err := p.oauth2(op, redirectURI).Exchange(oidc.ClientContext(ctx, p.client), code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			// invalid_grant and friends: a wrong, used or expired code, or a verifier that
			// does not match the challenge. The provider's text never holds the code.
			return auth.SSOIdentity{}, fmt.Errorf("%w: token endpoint refused the code: %s", auth.ErrExternalTokenRejected, re.ErrorCode)
		}
		return auth.SSOIdentity{}, fmt.Errorf("%w: token endpoint of %q: %w", auth.ErrUnavailable, p.cfg.Issuer, redactErr(err))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return auth.SSOIdentity{}, fmt.Errorf("%w: the token answer has no id_token", auth.ErrExternalTokenRejected)
	}
	idt, err := idv.Verify(ctx, raw)
	if err != nil {
		// go-oidc reports a key set it could not fetch in the text only ("fetching keys"),
		// and that is an outage, not a bad token.
		if strings.Contains(err.Error(), "fetching keys") {
			return auth.SSOIdentity{}, fmt.Errorf("%w: keys of %q: %w", auth.ErrUnavailable, p.cfg.Issuer, err)
		}
		return auth.SSOIdentity{}, fmt.Errorf("%w: ID token: %w", auth.ErrExternalTokenRejected, err)
	}
	// The nonce ties the ID token to the flow that asked for it: a token replayed from
	// another flow (or injected with a stolen code) carries another one.
	if nonce != "" && idt.Nonce != nonce {
		return auth.SSOIdentity{}, fmt.Errorf("%w: ID token nonce does not match the flow's", auth.ErrExternalTokenRejected)
	}
	var claims struct {
		Email         string          `json:"email"`
		EmailVerified json.RawMessage `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil {
		return auth.SSOIdentity{}, fmt.Errorf("%w: ID token claims: %w", auth.ErrExternalTokenRejected, err)
	}
	// Some providers send "true" as a string; anything else is not verified.
	id := auth.SSOIdentity{Subject: idt.Subject, Email: claims.Email}
	id.EmailVerified = claims.Email != "" && strings.Trim(string(claims.EmailVerified), `"`) == "true"
	if claims.Email == "" && tok.AccessToken != "" && p.hasUserInfo {
		// Many providers put the email in the userinfo answer only.
		ui, err := op.UserInfo(oidc.ClientContext(ctx, p.client), oauth2.StaticTokenSource(tok))
		if err != nil {
			return auth.SSOIdentity{}, fmt.Errorf("%w: userinfo of %q: %w", auth.ErrUnavailable, p.cfg.Issuer, redactErr(err))
		}
		// OpenID Connect Core 5.3.2: a userinfo answer for another subject must not be used.
		if ui.Subject == idt.Subject {
			id.Email, id.EmailVerified = ui.Email, ui.Email != "" && ui.EmailVerified
		}
	}
	return id, nil
}

// redactErr drops the URL's query from a transport error, so no code or secret is logged.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery = ""
			return fmt.Errorf("%s %s: %w", ue.Op, u.Redacted(), ue.Err)
		}
	}
	return err
}
