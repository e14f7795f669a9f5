package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/oidc"
)

// External sign-in (createSessionUsingExternalToken): the operator lists trusted OpenID
// Connect issuers in AUTHGRAPH_OIDC_ISSUERS, internal/oidc verifies their tokens, and
// oidcVerifier below adapts it to the domain's auth.ExternalVerifier.

// parseIssuers reads AUTHGRAPH_OIDC_ISSUERS: blank means none (external sign-in off);
// otherwise oidc.ParseIssuers's JSON array, whose "account" slugs must be well formed.
func parseIssuers(text string) ([]oidc.Issuer, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	issuers, err := oidc.ParseIssuers(text)
	if err != nil {
		return nil, err
	}
	for i, is := range issuers {
		if is.Account == "" {
			continue
		}
		if err := auth.CheckAccountSlug(is.Account); err != nil {
			return nil, fmt.Errorf("issuers[%d] (%q): account: %w", i, is.URL, err)
		}
	}
	return issuers, nil
}

// newExternalVerifier builds the verifier of external tokens, or answers nil (external
// sign-in off) when no issuer is configured. It does no network I/O: each issuer's keys are
// fetched when its first token comes, so a provider that is down does not stop the server.
func newExternalVerifier(ctx context.Context, cfg Config, logger zerolog.Logger) (auth.ExternalVerifier, error) {
	if len(cfg.OIDCIssuers) == 0 {
		return nil, nil
	}
	v, err := oidc.New(ctx, cfg.OIDCIssuers, oidc.WithMinRefreshInterval(cfg.OIDCMinRefreshInterval))
	if err != nil {
		return nil, fmt.Errorf("AUTHGRAPH_OIDC_ISSUERS: %w", err)
	}
	urls := make([]string, len(cfg.OIDCIssuers))
	for i, is := range cfg.OIDCIssuers {
		urls[i] = is.URL
	}
	logger.Info().Strs("issuers", urls).Msg("external login: on")
	return oidcVerifier{v}, nil
}

// oidcVerifier adapts *oidc.Verifier to auth.ExternalVerifier, turning oidc's error classes
// into the domain's: a rejection (ErrInvalidToken, which ErrNotAllowed matches too) wraps
// auth.ErrExternalTokenRejected, a provider that cannot be reached (ErrUnavailable) wraps
// auth.ErrUnavailable. oidc's messages never hold the token, and keep their detail for logs.
type oidcVerifier struct{ v *oidc.Verifier }

func (a oidcVerifier) Verify(ctx context.Context, token string) (auth.ExternalIdentity, error) {
	id, err := a.v.Verify(ctx, token)
	switch {
	case err == nil:
		return auth.ExternalIdentity{Issuer: id.Issuer, Subject: id.Subject, Username: id.Username, Account: id.Account}, nil
	case errors.Is(err, oidc.ErrUnavailable):
		return auth.ExternalIdentity{}, fmt.Errorf("%w: %w", auth.ErrUnavailable, err)
	case errors.Is(err, oidc.ErrInvalidToken):
		return auth.ExternalIdentity{}, fmt.Errorf("%w: %w", auth.ErrExternalTokenRejected, err)
	}
	return auth.ExternalIdentity{}, err
}
