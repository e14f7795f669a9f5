package auth

import (
	"context"
	"errors"
	"fmt"
)

// External sign-in: a client trades a token from a
// trusted external identity provider (an OpenID Connect ID or access token) for an authgraph
// session. The provider vouches for who the holder is; the operator's configuration says which
// of the provider's users may sign in and as which local user. The session is then an ordinary
// one (method EXTERNAL), refreshable or not, independent of the provider's token from then on.
//
// The rules, in order:
//
//   - Without a configured ExternalVerifier the feature is off: BAD_USER_INPUT "External
//     login is not configured." (nothing about a token can be learnt from it).
//   - A token the verifier rejects (bad signature, unknown key, unknown issuer, an algorithm
//     not allowed, expired, not yet valid, another audience, a holder not on the allow-list)
//     answers INVALID_CREDENTIALS, the same for every reason.
//   - A provider that cannot be reached (its keys cannot be fetched) answers
//     SERVICE_UNAVAILABLE: nothing was decided, so it must not read as bad credentials.
//   - An accepted identity signs in as the EXISTING user with the identity's username in the
//     identity's account (the default account if it names none). No such account or user, or
//     a disabled user: INVALID_CREDENTIALS. Users are never made here: an admin provisions them first
//     (createUser), which is the point where someone decides what the user may do.
//   - TOTP does not apply: the provider authenticated the user, with whatever factors it
//     requires; require a second factor there.
//   - The session depends on the local user alone: disabling or deleting the user ends it,
//     also when the sign-in is still running (see SessionStore.CreateSession). Nothing
//     revokes one identity on its own.

// ExternalIdentity is who a verified external token signs in as.
type ExternalIdentity struct {
	// Issuer identifies the provider (its issuer URL); Subject is the user's id there.
	Issuer, Subject string
	// Username is the local username the identity maps to.
	Username string
	// Account is the slug of the local account the user is in; "" means the default account.
	Account string
}

// ExternalVerifier checks a token from an external identity provider. The server adapts
// internal/oidc to it; the domain knows nothing of JWTs, JWKS or HTTP.
//
// Verify answers the identity of an accepted token, or an error that wraps
// ErrExternalTokenRejected (the token is not accepted) or ErrUnavailable (the provider cannot
// be reached, so the token could be neither accepted nor rejected). Any other error is taken
// for an internal failure. No error may contain the token.
type ExternalVerifier interface {
	Verify(ctx context.Context, token string) (ExternalIdentity, error)
}

// ErrExternalTokenRejected is what an ExternalVerifier wraps when it does not accept a token.
var ErrExternalTokenRejected = errors.New("external token rejected")

// MsgExternalLoginOff answers an external sign-in when no provider is configured.
const MsgExternalLoginOff = "External login is not configured."

// maxExternalTokenLen bounds the token handed to the verifier. Real ID and access tokens are
// 1-2 KiB; internal/oidc refuses more than 16 KiB too.
const maxExternalTokenLen = 16 << 10

// LoginExternal trades a token from an external identity provider for a session of the local
// user it maps to; see the rules at the top of this file. Errors that answer
// INVALID_CREDENTIALS carry the reason in their text (never the token), for a debug log.
func (s *Service) LoginExternal(ctx context.Context, tok, name string, opts ...LoginOption) (*NewSession, error) {
	tr := signInTrace{method: MethodExternal}
	ns, err := s.loginExternal(ctx, tok, name, opts, &tr)
	s.noteSignIn(ctx, &tr, ns, err)
	return ns, err
}

func (s *Service) loginExternal(ctx context.Context, tok, name string, opts []LoginOption, tr *signInTrace) (*NewSession, error) {
	if s.cfg.External == nil {
		return nil, &Error{Code: CodeInvalidInput, Message: MsgExternalLoginOff}
	}
	if err := checkLabel("name", name); err != nil {
		return nil, err
	}
	// Counted per address before the provider is asked: each attempt may cost a JWKS fetch.
	if err := s.checkLimit(ctx, AttemptExternal, ClientFrom(ctx).IP, ""); err != nil {
		return nil, err
	}
	if tok == "" || len(tok) > maxExternalTokenLen {
		return nil, rejectedExternal("empty token or longer than %d bytes", maxExternalTokenLen)
	}
	id, err := s.cfg.External.Verify(ctx, tok)
	switch {
	case err == nil:
	case errors.Is(err, ErrUnavailable):
		return nil, fmt.Errorf("external identity provider: %w", err)
	case errors.Is(err, ErrExternalTokenRejected):
		return nil, fmt.Errorf("%w (%w)", invalidCredentials(), err)
	default:
		return nil, fmt.Errorf("verify external token: %w", err)
	}
	u, err := s.externalUser(ctx, id)
	if err != nil {
		tr.reason = "identity_rejected"
		return nil, err
	}
	tr.user = u
	return s.startSession(ctx, &Session{UserID: u.ID, Method: MethodExternal, Name: name}, opts)
}

// externalUser finds the existing local user an accepted identity maps to.
func (s *Service) externalUser(ctx context.Context, id ExternalIdentity) (*User, error) {
	if id.Username == "" {
		return nil, rejectedExternal("issuer %q, subject %q: no username", id.Issuer, id.Subject)
	}
	slug := id.Account
	if slug == "" {
		slug = DefaultAccountSlug
	}
	if checkSlug(slug) != nil {
		return nil, rejectedExternal("issuer %q: malformed account slug %q", id.Issuer, slug)
	}
	a, err := s.accounts.AccountBySlug(ctx, slug)
	if errors.Is(err, ErrNotFound) {
		return nil, rejectedExternal("issuer %q: no account %q", id.Issuer, slug)
	}
	if err != nil {
		return nil, fmt.Errorf("find account: %w", err)
	}
	u, err := s.users.UserByUsername(ctx, a.ID, id.Username)
	if errors.Is(err, ErrNotFound) {
		return nil, rejectedExternal("issuer %q, subject %q: no user %q in account %q (users are made by an admin first)", id.Issuer, id.Subject, id.Username, slug)
	}
	if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	if u.Disabled {
		return nil, rejectedExternal("issuer %q, subject %q: user %q is disabled", id.Issuer, id.Subject, id.Username)
	}
	return u, nil
}

// rejectedExternal is an INVALID_CREDENTIALS answer whose text says why, for logs.
func rejectedExternal(format string, args ...any) error {
	return fmt.Errorf("%w (external login: %s)", invalidCredentials(), fmt.Sprintf(format, args...))
}

// CheckAccountSlug reports whether slug is a well-formed account slug, for configuration
// that names accounts (such as an external issuer's account) to be checked at start.
func CheckAccountSlug(slug string) error { return checkSlug(slug) }
