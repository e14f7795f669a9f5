package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/errmap"
	"github.com/authgraph/authgraph/internal/requestid"
)

type errorBody struct {
	Errors []errorItem `json:"errors"`
}

type errorItem struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// writeError answers a request that never reached GraphQL execution with a body in the
// GraphQL error shape, so clients parse every failure the same way.
func writeError(w http.ResponseWriter, status int, code auth.Code, msg string) {
	writeErrorExt(w, status, map[string]any{"code": errmap.GraphQL(code)}, msg)
}

func writeErrorExt(w http.ResponseWriter, status int, ext map[string]any, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	setRetryAfter(w.Header(), status, 0)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Errors: []errorItem{{Message: msg, Extensions: ext}}})
}

func writeInternal(w http.ResponseWriter, r *http.Request) {
	id := requestid.From(r.Context())
	writeErrorExt(w, http.StatusInternalServerError,
		map[string]any{"code": errmap.GraphQL(auth.CodeInternal), "requestId": id},
		"Internal server error. Request ID: "+id)
}

// statusFor is the HTTP status of a GraphQL answer whose errors carry these GraphQL codes:
// 200, unless one of them concerns the request as a whole (errmap.Row.WholeRequest: an
// outage, 503, or a rate limit, 429, so that clients and proxies retry rather than give
// up); of several, the highest (an outage over a rate limit).
func statusFor(codes []string) int {
	status := http.StatusOK
	for _, c := range codes {
		if r, ok := errmap.ByGraphQL(c); ok && r.WholeRequest && (status == http.StatusOK || r.Status > status) {
			status = r.Status
		}
	}
	return status
}

// writeRefusal answers a request refused as a whole with a domain error code, with that code's
// status (errmap) and msg.
func writeRefusal(w http.ResponseWriter, code auth.Code, msg string) {
	writeError(w, errmap.Of(code).Status, code, msg)
}

// setRetryAfter tells a client refused with 429 or 503 when to try again (RFC 9110 §10.2.3):
// the limiter's wait for a 429, a second for an outage or a full hashing queue (by then a
// worker is free or Redis has had a second to come back; clients add their own backoff).
func setRetryAfter(h http.Header, status, seconds int) {
	if h.Get("Retry-After") != "" || (status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable) {
		return
	}
	h.Set("Retry-After", strconv.Itoa(max(seconds, 1)))
}
