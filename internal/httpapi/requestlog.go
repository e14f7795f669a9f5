package httpapi

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/requestid"
)

// requestNotes is what the layers of one request note down on the way: what its log line
// reports (operation, user, outcome), and the status and Retry-After its answer must have
// when gqlgen would send a plain 200. logRequests makes one per request.
type requestNotes struct {
	operation string
	userID    int64
	outcome   string
	// code is the GraphQL operation's outcome: OK, or its errors' codes (INVALID_CREDENTIALS,
	// RATE_LIMITED…), so that a failed sign-in, answered with HTTP 200, shows in the log.
	code string
	// status, when set by the GraphQL layer, overrides the 200 gqlgen would send (503 for an
	// outage, 429 for a rate limit).
	status int
	// retryAfter, in seconds, is sent as Retry-After with a 429 or 503 (see setRetryAfter).
	retryAfter int
}

type notesKey struct{}

// notes answers the request's notes.
func notes(ctx context.Context) *requestNotes {
	if ri, ok := ctx.Value(notesKey{}).(*requestNotes); ok {
		return ri
	}
	return &requestNotes{} // a sink, so callers need not check
}

// logRequests gives each request an id (echoed in X-Request-Id), a request-scoped logger, and
// one log line when it ends: id, method, path, GraphQL operation, Apollo client name and
// version, user id, status, duration. It never logs headers, the query string or the body,
// where tokens and passwords travel.
func logRequests(base zerolog.Logger) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			id := requestid.New()
			w.Header().Set("X-Request-Id", id)
			ri := &requestNotes{}
			logger := base.With().Str("request_id", id).Logger()
			ctx := logger.WithContext(requestid.With(context.WithValue(r.Context(), notesKey{}, ri), id))
			rec := &statusWriter{ResponseWriter: w, notes: ri}
			next.ServeHTTP(rec, r.WithContext(ctx))

			ev := logger.Info()
			if rec.status >= 500 {
				ev = logger.Warn()
			}
			ev = ev.Str("method", r.Method).Str("path", r.URL.Path).
				Int("status", rec.statusOr200()).
				Dur("duration", time.Since(start)).
				Int64("bytes", rec.bytes)
			if ri.operation != "" {
				ev = ev.Str("operation", ri.operation)
			}
			if ri.code != "" {
				ev = ev.Str("code", ri.code)
			}
			if n := r.Header.Get("apollographql-client-name"); n != "" {
				ev = ev.Str("client_name", clipLog(n))
			}
			if v := r.Header.Get("apollographql-client-version"); v != "" {
				ev = ev.Str("client_version", clipLog(v))
			}
			if ri.userID != 0 {
				ev = ev.Int64("user_id", ri.userID)
			}
			if ri.outcome != "" {
				ev = ev.Str("auth", ri.outcome)
			}
			ev.Msg("request")
		})
	}
}

func clipLog(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// statusWriter records the status and size of an answer, and applies the status the
// GraphQL layer asked for when gqlgen writes its body with an implicit 200.
type statusWriter struct {
	http.ResponseWriter
	notes  *requestNotes
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	if code == http.StatusOK && w.notes.status != 0 {
		code = w.notes.status
	}
	setRetryAfter(w.Header(), code, w.notes.retryAfter)
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) statusOr200() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("hijack not supported")
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
