package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/metrics"
)

// MetricsHandler serves /metrics on the metrics listener (AUTHGRAPH_METRICS_ADDR), never on
// the API's: the metrics say how many sign-ins fail, how full the hashing queue is and how
// Redis fares, which is an attacker's dashboard, and a listener of its own (on loopback by
// default) keeps them off the public address whatever the proxy in front forwards. With a
// token, a scrape must carry it as Authorization: Bearer, for when the listener has to be
// reachable from another host.
func MetricsHandler(token string, m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	h := m.Handler()
	if token != "" {
		h = requireBearer(token, h)
	}
	mux.Handle("GET /metrics", h)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, auth.CodeNotFound, "Not found: this address serves /metrics only.")
	})
	return noSniff(mux)
}

// requireBearer lets through requests whose Authorization is Bearer token. The comparison
// is of digests, in constant time, so neither the token's bytes nor its length leak through
// timing.
func requireBearer(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || !strings.EqualFold(scheme, "Bearer") || len(r.Header["Authorization"]) != 1 ||
			subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			writeError(w, http.StatusUnauthorized, auth.CodeUnauthenticated, "Scraping the metrics needs their bearer token.")
			return
		}
		next.ServeHTTP(w, r)
	})
}
