package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/graph"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// authenticate resolves the request's session token, if any, to a principal in the context,
// and gives the resolvers the request's cookie jar (transport.go). A token that is sent but
// not valid is answered 401 here, before any GraphQL runs: that is how clients learn to sign
// in again (a dead session cookie is cleared with it). A store outage is a 503, never a 401,
// so an outage does not log everyone out.
func authenticate(opts transportOptions, svc *auth.Service) middleware {
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

var errTwoTokens = errors.New("The request carries two different tokens; send one.")

// errRepeated refuses a credential that comes twice in one place (two x-auth-token headers,
// two session cookies): even when both are equal, which one a proxy or a library in between
// would have kept is a guess.
func errRepeated(what string) error {
	return errors.New("The request carries two " + what + "; send one.")
}

// requestToken reads the session token from x-auth-token or Authorization. Two different
// tokens in one request are refused (RFC 6750 §2): which one would be meant is a guess, and
// guessing about credentials is how sessions get confused. So is a header that comes twice:
// Header.Get would read the first and ignore the other without a word.
//
// Authorization is "Bearer <token>", or a session token alone: some clients document
// sending the token with no scheme. A bare value is taken only when it is recognisably an
// authgraph session token (its prefix, length and checksum: token.Check), so that another
// scheme's credential, or a typo, is never looked up as a token; anything else in
// Authorization is refused with 400, saying the form it must have.
func requestToken(r *http.Request) (string, error) {
	// Canonical header names: Get would allocate the canonical form of any other spelling.
	if len(r.Header["X-Auth-Token"]) > 1 {
		return "", errRepeated("x-auth-token headers")
	}
	if len(r.Header["Authorization"]) > 1 {
		return "", errRepeated("Authorization headers")
	}
	header := strings.TrimSpace(r.Header.Get("X-Auth-Token"))
	bearer := ""
	if a := strings.TrimSpace(r.Header.Get("Authorization")); a != "" {
		scheme, rest, ok := strings.Cut(a, " ")
		switch {
		case ok && strings.EqualFold(scheme, "Bearer"):
			bearer = strings.TrimSpace(rest)
		case token.Check(token.Session, a) == nil:
			bearer = a
		default:
			return "", errors.New("The Authorization header must be of the form: Bearer <token>.")
		}
	}
	switch {
	case header != "" && bearer != "" && header != bearer:
		return "", errTwoTokens
	case header != "":
		return header, nil
	}
	return bearer, nil
}
