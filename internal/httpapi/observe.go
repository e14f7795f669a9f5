package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/errmap"
	"github.com/authgraph/authgraph/internal/metrics"
)

// opLabelKey carries the metrics label of the operation a request runs, from the GraphQL
// layer (which knows it) out to instrument (which counts the request once it is answered).
type opLabelKey struct{}

type opLabel struct{ name string }

// instrument counts each GraphQL HTTP request by operation and status, times it, and counts
// the outcome of the access token it carried in any transport (header, cookie, query), if any.
func instrument(m *metrics.Metrics, opts transportOptions) middleware {
	return func(next http.Handler) http.Handler {
		if m == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			lbl := &opLabel{name: metrics.OperationNone}
			rec := &codeWriter{ResponseWriter: w}
			next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), opLabelKey{}, lbl)))
			status := rec.code
			if status == 0 {
				status = http.StatusOK
			}
			m.ObserveRequest(lbl.name, status, time.Since(start))
			if cred, err := requestCredential(r, opts); err == nil {
				method := metrics.MethodToken
				if cred.apiKey != "" {
					method = metrics.MethodAPIKey
				}
				if cred.token != "" || cred.apiKey != "" {
					if outcome, ok := authOutcome(status, method); ok {
						m.AuthOutcome(method, outcome)
					}
				}
			}
		})
	}
}

// observeGraphQL labels each operation by its root field and counts the outcome of every
// sign-in mutation.
func observeGraphQL(srv *handler.Server, m *metrics.Metrics) {
	if m == nil {
		return
	}
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if lbl, ok := ctx.Value(opLabelKey{}).(*opLabel); ok {
			lbl.name = metrics.OperationLabel(graphql.GetOperationContext(ctx).Operation)
		}
		return next(ctx)
	})
	srv.AroundFields(func(ctx context.Context, next graphql.Resolver) (any, error) {
		fc := graphql.GetFieldContext(ctx)
		if fc == nil || fc.Object != "Mutation" || fc.Field.Field == nil {
			return next(ctx)
		}
		method, ok := signInMethod(fc.Field.Name)
		if !ok {
			return next(ctx)
		}
		res, err := next(ctx)
		outcome := metrics.OutcomeOK
		if err != nil {
			outcome = errmap.Of(auth.ErrorCode(err)).Outcome
		}
		m.AuthOutcome(method, outcome)
		return res, err
	})
}

// signInMethod tells whether a Mutation field signs someone in, and how.
func signInMethod(field string) (string, bool) {
	switch field {
	case "createSessionUsingUsername":
		return metrics.MethodPassword, true
	case "createSessionUsingUserKey":
		return metrics.MethodUserKey, true
	case "refreshSession":
		return metrics.MethodRefresh, true
	case "createSessionUsingExternalToken", "createSessionUsingAuthorizationCode":
		return metrics.MethodExternal, true
	}
	if strings.HasPrefix(field, "createSessionUsing") {
		return metrics.MethodOther, true
	}
	return "", false
}

// codeWriter records the status an answer was sent with.
type codeWriter struct {
	http.ResponseWriter
	code int
}

func (w *codeWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *codeWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *codeWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *codeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// authOutcome names what a request's status says of its credential; false for a request
// refused before the credential was looked at. Only a service key is answered 403 for
// itself (its quota is spent); a session's 403s are about the operation.
func authOutcome(status int, method string) (string, bool) {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return "", false
	case http.StatusUnauthorized:
		return metrics.OutcomeInvalidToken, true
	case http.StatusServiceUnavailable:
		return metrics.OutcomeUnavailable, true
	case http.StatusTooManyRequests:
		return metrics.OutcomeRateLimited, true
	case http.StatusForbidden:
		if method == metrics.MethodAPIKey {
			return metrics.OutcomeQuotaExceeded, true
		}
	}
	return metrics.OutcomeOK, true
}
