package graph

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/graph/model"
	"github.com/authgraph/authgraph/internal/auth"
)

// createSessionUsingExternalToken trades an external identity provider's token for a session,
// delivered like a password sign-in's (refreshable, COOKIE mode).
func (r *Resolver) createSessionUsingExternalToken(ctx context.Context, input model.CreateSessionUsingExternalTokenInput) (*model.Session, error) {
	mode, err := modeOf(ctx, input.Mode, model.TokenModeJSON)
	if err != nil {
		return nil, err
	}
	ns, err := r.Service.LoginExternal(ctx, input.Token, deref(input.Name), loginOptions(input.Refreshable)...)
	if err != nil {
		if auth.ErrorCode(err) == auth.CodeInvalidCredentials {
			// The client only ever learns INVALID_CREDENTIALS; the operator setting up a
			// provider needs the reason (expired, audience, not allowed, no such user...).
			// The error text never holds the token.
			zerolog.Ctx(ctx).Debug().Err(err).Str("event", "external_login_refused").Msg("external token refused")
		}
		return nil, err
	}
	return r.sessionAnswer(ctx, ns, mode), nil
}
