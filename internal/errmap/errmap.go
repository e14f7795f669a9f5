// Package errmap is the one table from a domain error code (auth.Code) to what the
// transports make of it: the GraphQL extensions.code a client reads, the HTTP status of an
// answer that carries it, and the sign-in outcome the metrics count. The domain
// (internal/auth) stays free of HTTP and GraphQL; the HTTP layer (internal/httpapi) and the
// resolvers' error presenter (graph) both read this table, so a new code is mapped once,
// here (TestEveryCodeHasARow fails until it is).
package errmap

import (
	"net/http"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/metrics"
)

// Row is what one code becomes.
type Row struct {
	// GraphQL is the error's extensions.code.
	GraphQL string
	// Status is the HTTP status of a request refused with this code as a whole, before any
	// GraphQL runs (an invalid token is 401, an outage 503).
	Status int
	// WholeRequest says that a GraphQL answer whose errors carry this code is sent with
	// Status rather than 200: the request as a whole is to be retried later (an outage, a
	// rate limit), which clients and proxies learn from the status and Retry-After. Any
	// other error is part of a normal 200 GraphQL answer.
	WholeRequest bool
	// Outcome is the metrics label of a sign-in that failed with this code.
	Outcome string
}

var rows = map[auth.Code]Row{
	auth.CodeUnauthenticated:          {"UNAUTHENTICATED", http.StatusUnauthorized, false, metrics.OutcomeInvalidToken},
	auth.CodeForbidden:                {"FORBIDDEN", http.StatusForbidden, false, metrics.OutcomeError},
	auth.CodeInvalidInput:             {"BAD_USER_INPUT", http.StatusBadRequest, false, metrics.OutcomeError},
	auth.CodeInvalidCredentials:       {"INVALID_CREDENTIALS", http.StatusUnauthorized, false, metrics.OutcomeBadCredentials},
	auth.CodeOTPRequired:              {"OTP_REQUIRED", http.StatusUnauthorized, false, metrics.OutcomeOTPRequired},
	auth.CodeNotFound:                 {"NOT_FOUND", http.StatusNotFound, false, metrics.OutcomeError},
	auth.CodeConflict:                 {"CONFLICT", http.StatusConflict, false, metrics.OutcomeError},
	auth.CodeUnavailable:              {"SERVICE_UNAVAILABLE", http.StatusServiceUnavailable, true, metrics.OutcomeUnavailable},
	auth.CodeInternal:                 {"INTERNAL_SERVER_ERROR", http.StatusInternalServerError, false, metrics.OutcomeError},
	auth.CodeReauthenticationRequired: {"REAUTHENTICATION_REQUIRED", http.StatusUnauthorized, false, metrics.OutcomeError},
	auth.CodeRateLimited:              {"RATE_LIMITED", http.StatusTooManyRequests, true, metrics.OutcomeRateLimited},
	auth.CodeRefreshTokenReused:       {"REFRESH_TOKEN_REUSED", http.StatusUnauthorized, false, metrics.OutcomeRefreshReused},
	// An emailed token or code refused: a bad input of one request, answered in a 200 body
	// as BAD_USER_INPUT is; a sign-in by code that fails is a sign-in with bad credentials.
	auth.CodeTokenInvalid: {"TOKEN_INVALID", http.StatusBadRequest, false, metrics.OutcomeBadCredentials},
	// Right credentials, unverified address: the sign-in waits for the user, not a retry.
	auth.CodeEmailNotVerified: {"EMAIL_NOT_VERIFIED", http.StatusForbidden, false, metrics.OutcomeError},
	// A genuine identity from a provider that no user here is linked to: the user signs in
	// another way and links it, never a retry.
	auth.CodeIdentityNotLinked: {"IDENTITY_NOT_LINKED", http.StatusForbidden, false, metrics.OutcomeBadCredentials},
	// A service key whose quota is spent: refused until the quota refills (Retry-After, if
	// it does) or an admin raises it; retrying sooner is useless, so not a whole-request 429.
	auth.CodeQuotaExceeded: {"QUOTA_EXCEEDED", http.StatusForbidden, false, metrics.OutcomeError},
}

// byGraphQL is rows by their GraphQL code, for answers whose errors have become GraphQL.
var byGraphQL = func() map[string]Row {
	m := make(map[string]Row, len(rows))
	for _, r := range rows {
		m[r.GraphQL] = r
	}
	return m
}()

// Of answers code's row. A code without one (TestEveryCodeHasARow keeps there being none)
// is taken for an internal error.
func Of(code auth.Code) Row {
	if r, ok := rows[code]; ok {
		return r
	}
	return rows[auth.CodeInternal]
}

// GraphQL is code's extensions.code.
func GraphQL(code auth.Code) string { return Of(code).GraphQL }

// ByGraphQL answers the row whose GraphQL code is code, and whether there is one: gqlgen's
// own codes (GRAPHQL_VALIDATION_FAILED, PERSISTED_QUERY_NOT_FOUND, …) have none.
func ByGraphQL(code string) (Row, bool) {
	r, ok := byGraphQL[code]
	return r, ok
}
