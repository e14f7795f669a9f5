package main

import (
	"fmt"
	"strings"

	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/sso"
)

// Sign-in through an identity provider's authorization code flow: the operator lists the
// providers in AUTHGRAPH_SSO_PROVIDERS, internal/sso runs the protocol, and the domain
// (auth.SSOConfig) keeps the flows and links.

// parseSSOProviders reads AUTHGRAPH_SSO_PROVIDERS: blank means none; otherwise sso.Parse's
// JSON array, whose "account" slugs must be well formed.
func parseSSOProviders(text string) ([]sso.Config, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	cfgs, err := sso.Parse(text)
	if err != nil {
		return nil, err
	}
	for i, c := range cfgs {
		if c.Account == "" {
			continue
		}
		if err := auth.CheckAccountSlug(c.Account); err != nil {
			return nil, fmt.Errorf("providers[%d] (%q): account: %w", i, c.Name, err)
		}
	}
	return cfgs, nil
}

// newSSO builds the providers. It does no network I/O: each provider is discovered at its
// first sign-in, so one that is down does not stop the server.
func newSSO(cfg Config, logger zerolog.Logger) (auth.SSOConfig, error) {
	out := auth.SSOConfig{FlowTTL: cfg.SSOFlowTTL, Providers: map[string]auth.SSOProviderConfig{}}
	for _, c := range cfg.SSOProviders {
		p, err := sso.New(c, cfg.PublicURL, nil, nil)
		if err != nil {
			return out, fmt.Errorf("AUTHGRAPH_SSO_PROVIDERS: %q: %w", c.Name, err)
		}
		out.Providers[c.Name] = auth.SSOProviderConfig{
			Provider: p, Account: c.Account, LinkByVerifiedEmail: c.LinkByVerifiedEmail, DisplayName: c.DisplayName,
			Provision: c.Provision,
		}
		pc := p.Config()
		where := pc.Issuer
		if pc.Type == sso.TypeGitHub {
			where = pc.TokenURL
		}
		logger.Info().Str("provider", c.Name).Str("type", pc.Type).Str("issuer", where).Str("callback", p.CallbackURL()).
			Bool("link_by_verified_email", c.LinkByVerifiedEmail).Msg("sign-in provider: on")
	}
	return out, nil
}
