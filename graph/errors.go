package graph

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"
	"github.com/rs/zerolog"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/errmap"
	"github.com/authgraph/authgraph/internal/gid"
	"github.com/authgraph/authgraph/internal/requestid"
)

// PresentError is the one place where an error becomes what a client sees: domain errors
// keep their code and message, a malformed id is BAD_USER_INPUT, a store outage is
// SERVICE_UNAVAILABLE, and anything else is logged and masked as INTERNAL_SERVER_ERROR with
// the request id, so no internal detail ever reaches a client.
func PresentError(ctx context.Context, err error) *gqlerror.Error {
	var gqlErr *gqlerror.Error
	if errors.As(err, &gqlErr) {
		copied := *gqlErr
		gqlErr = &copied
	} else {
		gqlErr = &gqlerror.Error{Path: graphql.GetPath(ctx)}
	}

	var domainErr *auth.Error
	switch {
	case errors.As(err, &domainErr):
		gqlErr.Message = domainErr.Message
		setCode(gqlErr, domainErr.Code)
		if rl, ok := auth.IsRateLimited(err); ok {
			// The wait goes to the client (the HTTP layer also sends it as Retry-After);
			// the rule that refused goes only to the log.
			gqlErr.Extensions["retryAfter"] = rl.RetryAfterSeconds()
			zerolog.Ctx(ctx).Info().Str("rule", rl.Rule).Dur("retry_after", rl.RetryAfter).Msg("rate limited")
		}
	case errors.Is(err, gid.ErrInvalid):
		gqlErr.Message = err.Error()
		setCode(gqlErr, auth.CodeInvalidInput)
	case errors.Is(err, auth.ErrUnavailable):
		zerolog.Ctx(ctx).Warn().Err(err).Msg("dependency unavailable")
		gqlErr.Message = auth.MsgUnavailable
		setCode(gqlErr, auth.CodeUnavailable)
	case gqlErr.Message != "" && errors.As(err, new(*gqlerror.Error)) && !fromResolver(ctx, gqlErr):
		// gqlgen's own errors: parse and validation (which carry their code) and argument
		// coercion (a scalar that does not parse, which carries the cause).
		if _, ok := gqlErr.Extensions["code"]; !ok {
			setCode(gqlErr, auth.CodeInvalidInput)
		}
	default:
		id := requestid.From(ctx)
		zerolog.Ctx(ctx).Error().Err(err).Msg("internal error")
		gqlErr.Message = "Internal server error. Request ID: " + id
		setCode(gqlErr, auth.CodeInternal)
		gqlErr.Extensions["requestId"] = id
	}
	gqlErr.Err = nil
	return gqlErr
}

// setCode gives e the GraphQL code of the domain's code (internal/errmap).
func setCode(e *gqlerror.Error, code auth.Code) {
	ext := make(map[string]any, len(e.Extensions)+1)
	for k, v := range e.Extensions {
		ext[k] = v
	}
	ext["code"] = errmap.GraphQL(code)
	e.Extensions = ext
}

// fromResolver reports whether e is a resolver's plain error that gqlgen wrapped on its way
// here (it wraps every error in a *gqlerror.Error whose message is the error's text): its
// cause is no *gqlerror.Error and its path is the path of the field being resolved. An
// argument that does not coerce is wrapped too, but on the argument's path, below the
// field's. A resolver's error is masked like any internal error: its text is not for
// clients.
func fromResolver(ctx context.Context, e *gqlerror.Error) bool {
	if e.Err == nil || errors.As(e.Err, new(*gqlerror.Error)) {
		return false
	}
	return e.Path.String() == graphql.GetPath(ctx).String()
}
