package sso

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authgraph/authgraph/internal/auth"
)

// OIDC is an OpenID Provider. Discovery happens on first use and is retried until
// it succeeds, so a provider that is down does not stop the server from starting.
type OIDC struct {
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

var _ Provider = (*OIDC)(nil)

func newOIDC(cfg Config, callback string, client *http.Client, now func() time.Time) *OIDC {
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"email", "profile"}
	}
	if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = []string{oidc.RS256, oidc.ES256}
	}
	return &OIDC{cfg: cfg, callback: callback, client: client, now: now}
}

// Config implements Provider.
func (p *OIDC) Config() Config { return p.cfg }

// CallbackURL implements Provider.
func (p *OIDC) CallbackURL() string { return p.callback }

// discover answers the provider's metadata and ID token verifier, fetching them once.
func (p *OIDC) discover(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
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

func (p *OIDC) oauth2(op *oidc.Provider, redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, Endpoint: op.Endpoint(),
		RedirectURL: redirectURI, Scopes: p.cfg.Scopes,
	}
}

// AuthURL implements auth.SSOProvider.
func (p *OIDC) AuthURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	op, _, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	return p.oauth2(op, p.callback).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// AllowsRedirect implements auth.SSOProvider.
func (p *OIDC) AllowsRedirect(redirectURI string) bool {
	return allowsRedirect(p.cfg.ClientRedirectURIs, redirectURI)
}

// Exchange implements auth.SSOProvider.
func (p *OIDC) Exchange(ctx context.Context, code, verifier, redirectURI, nonce string) (auth.SSOIdentity, error) {
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
			return auth.SSOIdentity{}, fmt.Errorf("%w: token endpoint refused the code: %s", auth.ErrExternalTokenRejected, clip(re.ErrorCode))
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
