package httpapi

import (
	"net/http"

	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/graph"
	"github.com/authgraph/authgraph/internal/auth"
)

// authenticate resolves the request's session token, if any, to a principal in the context,
// and gives the resolvers the request's cookie jar (transport.go). A token that is sent but
// not valid is answered 401 here, before any GraphQL runs: that is how clients learn to sign
// in again (a dead session cookie is cleared with it). A store outage is a 503, never a 401,
// so an outage does not log everyone out.
func authenticate(opts transportOptions, svc *auth.Service, meter *serviceMeter) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cred, err := requestCredential(r, opts)
			if err != nil {
				writeError(w, http.StatusBadRequest, auth.CodeInvalidInput, err.Error())
				return
			}
			r = withoutQueryToken(r)
			jar := newCookieJar(w, r, opts)
			r = r.WithContext(graph.WithCookieJar(r.Context(), jar))
			if cred.apiKey != "" {
				authenticateServiceKey(w, r, next, svc, meter, cred.apiKey)
				return
			}
			if cred.token == "" {
				next.ServeHTTP(w, r)
				return
			}
			p, err := svc.Authenticate(r.Context(), cred.token)
			switch code := auth.ErrorCode(err); code {
			case "":
			case auth.CodeUnauthenticated:
				notes(r.Context()).outcome = "invalid_token"
				if cred.source == fromCookie {
					jar.Clear(graph.SessionCookie)
				}
				writeRefusal(w, code, auth.MsgUnauthenticated)
				return
			case auth.CodeUnavailable:
				zerolog.Ctx(r.Context()).Warn().Err(err).Msg("cannot check session")
				writeRefusal(w, code, auth.MsgUnavailable)
				return
			default:
				zerolog.Ctx(r.Context()).Error().Err(err).Msg("cannot check session")
				writeInternal(w, r)
				return
			}
			notes(r.Context()).userID = p.User.ID
			next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
		})
	}
}

// authenticateServiceKey runs a request that sent a service key in x-api-key: the key is
// verified through the store's cache (its SHA-256 digest: no argon2 on this path), then
// metered. Every bad key (malformed, unknown, expired, disabled, deleted) is the same 401
// as a bad session token; a key over its rate limit is 429 RATE_LIMITED with Retry-After,
// one whose quota is spent 403 QUOTA_EXCEEDED; an outage of the store or the meter is 503.
func authenticateServiceKey(w http.ResponseWriter, r *http.Request, next http.Handler, svc *auth.Service, meter *serviceMeter, secret string) {
	ctx := r.Context()
	p, err := svc.AuthenticateServiceKey(ctx, secret)
	switch code := auth.ErrorCode(err); code {
	case "":
	case auth.CodeUnauthenticated:
		notes(ctx).outcome = "invalid_api_key"
		writeRefusal(w, code, auth.MsgUnauthenticated)
		return
	case auth.CodeUnavailable:
		zerolog.Ctx(ctx).Warn().Err(err).Msg("cannot check service key")
		writeRefusal(w, code, auth.MsgUnavailable)
		return
	default:
		zerolog.Ctx(ctx).Error().Err(err).Msg("cannot check service key")
		writeInternal(w, r)
		return
	}
	if refused := meter.take(ctx, w, p.ServiceKey); refused {
		return
	}
	next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(ctx, p)))
}
