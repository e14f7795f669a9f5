package verify

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/reqtoken"
)

// outcome is what Middleware found, in the request's context.
type outcome struct {
	p   Principal
	ok  bool
	err error // why there is no principal although a credential was sent; nil for none sent
}

type outcomeKey struct{}

// Middleware resolves the request's token, if any, and puts the principal in the request's
// context (FromContext). It never answers by itself: a request without a valid token goes on
// without a principal, and the handler (or RequireAuth) decides. Why a sent credential gave
// none is kept for ErrorFromContext.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred, err := reqtoken.Read(r, v.tokens)
		if err == nil && cred.Token == "" {
			next.ServeHTTP(w, r)
			return
		}
		var o outcome
		if err != nil {
			o.err = &credentialError{err}
		} else if o.p, o.err = v.Verify(r.Context(), cred.Token); o.err == nil {
			o.ok = true
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), outcomeKey{}, &o)))
	})
}

// credentialError is a request whose credentials cannot be read (two different tokens, a
// header twice, an Authorization header of another form). It is ErrUnauthenticated to
// errors.Is, and its message, meant for the client, says what to fix.
type credentialError struct{ err error }

func (e *credentialError) Error() string        { return e.err.Error() }
func (e *credentialError) Is(target error) bool { return target == ErrUnauthenticated }

// FromContext answers the principal Middleware found for the request, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	o, _ := ctx.Value(outcomeKey{}).(*outcome)
	if o == nil || !o.ok {
		return Principal{}, false
	}
	return o.p, true
}

// ErrorFromContext answers why a request that sent a credential has no principal (an error
// that errors.Is ErrUnauthenticated, ErrUnavailable or ErrUnsupportedRecord), or nil when it
// has one or sent none.
func ErrorFromContext(ctx context.Context) error {
	o, _ := ctx.Value(outcomeKey{}).(*outcome)
	if o == nil {
		return nil
	}
	return o.err
}

// RequireAuth answers a request that has no principal (see Middleware, which must run
// first) in authgraph's error shape: 401 UNAUTHENTICATED with a WWW-Authenticate challenge,
// 400 for credentials that cannot be read, or 503 SERVICE_UNAVAILABLE when Redis could not be
// asked (an outage is never a 401, which would make clients drop valid tokens).
func RequireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := FromContext(r.Context()); ok {
			next.ServeHTTP(w, r)
			return
		}
		err := ErrorFromContext(r.Context())
		var ce *credentialError
		switch {
		case errors.As(err, &ce):
			writeError(w, http.StatusBadRequest, codeInvalidInput, ce.Error())
		case err == nil || errors.Is(err, ErrUnauthenticated):
			w.Header().Set("WWW-Authenticate", `Bearer realm="authgraph"`)
			writeError(w, http.StatusUnauthorized, codeUnauthenticated, msgUnauthenticated)
		case errors.Is(err, ErrUnavailable):
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, codeUnavailable, msgUnavailable)
		default:
			writeError(w, http.StatusInternalServerError, codeInternal, "Internal server error.")
		}
	})
}

// The codes and messages of authgraph's API (internal/errmap, internal/auth), so that a
// client handles a product's refusals as it does authgraph's; a test keeps them equal.
const (
	codeUnauthenticated = "UNAUTHENTICATED"
	codeForbidden       = "FORBIDDEN"
	codeUnavailable     = "SERVICE_UNAVAILABLE"
	codeInvalidInput    = "BAD_USER_INPUT"
	codeInternal        = "INTERNAL_SERVER_ERROR"
	msgUnauthenticated  = auth.MsgUnauthenticated
	msgUnavailable      = auth.MsgUnavailable
)

type errorBody struct {
	Errors []errorItem `json:"errors"`
}

type errorItem struct {
	Message    string            `json:"message"`
	Extensions map[string]string `json:"extensions"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Errors: []errorItem{{Message: msg, Extensions: map[string]string{"code": code}}}})
}
