package graph

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/graph/model"
	"github.com/authgraph/authgraph/internal/auth"
)

// createSessionUsingAuthorizationCode trades an authorization code that an app obtained
// itself (with its own PKCE verifier) for a session, delivered like a password sign-in's.
func (r *Resolver) createSessionUsingAuthorizationCode(ctx context.Context, in model.CreateSessionUsingAuthorizationCodeInput) (*model.Session, error) {
	mode, err := modeOf(ctx, in.Mode, model.TokenModeJSON)
	if err != nil {
		return nil, err
	}
	ns, err := r.Service.LoginAuthorizationCode(ctx, auth.AuthorizationCodeLogin{
		Provider: in.Provider, Code: in.Code, CodeVerifier: in.CodeVerifier, RedirectURI: in.RedirectURI,
		Nonce: deref(in.Nonce), Name: deref(in.Name),
	}, loginOptions(in.Refreshable)...)
	if err != nil {
		if auth.ErrorCode(err) == auth.CodeInvalidCredentials {
			// The client learns INVALID_CREDENTIALS only; the operator needs the reason. The
			// text never holds the code or a token.
			zerolog.Ctx(ctx).Debug().Err(err).Str("event", "sso_login_refused").Msg("authorization code refused")
		}
		return nil, err
	}
	return r.sessionAnswer(ctx, ns, mode), nil
}
