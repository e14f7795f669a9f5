// Package metrics is authgraph's Prometheus instrumentation: GraphQL requests by operation
// and status, their latency, authentication outcomes, the argon2id pool's queue, and Redis
// errors and connection pool statistics.
//
// No label value ever comes from a client unchecked: operations are labelled by the root
// field of the schema they run (a fixed set), never by the client's operation name; statuses
// are HTTP codes; outcomes, methods and Redis commands come from fixed tables in this
// package or in authgraph's own code. Nothing a client sends can grow a label's cardinality
// or leak a secret into the metrics.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "authgraph"

// Metrics holds authgraph's collectors in their own registry (not the global one, so tests
// and several servers in one process do not collide).
type Metrics struct {
	reg *prometheus.Registry

	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	authOutcomes *prometheus.CounterVec
	redisErrors  *prometheus.CounterVec
	apq          *prometheus.CounterVec
}

// New makes the collectors and registers them, with the Go runtime's and the process's.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "graphql_requests_total",
			Help: "GraphQL HTTP requests, by operation (the root field run; 'multiple', 'none' or 'invalid' otherwise) and HTTP status.",
		}, []string{"operation", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "graphql_request_duration_seconds",
			Help:    "Time to answer a GraphQL HTTP request, by operation.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
		authOutcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "auth_outcomes_total",
			Help: "Authentication attempts by method (token, password, user_key, refresh, api_key, other) and outcome (ok, invalid_token, bad_credentials, rate_limited, otp_required, refresh_reused, unavailable, quota_exceeded, error).",
		}, []string{"method", "outcome"}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "redis_errors_total",
			Help: "Redis commands that failed (a missing key is not a failure), by command.",
		}, []string{"command"}),
		apq: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "apq_lookups_total",
			Help: "Automatic persisted query cache use: hit, miss (the client must send the query) or store.",
		}, []string{"result"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.authOutcomes, m.redisErrors, m.apq,
	)
	// Make the outcomes visible at zero from the start, so rate() and alerts work before
	// the first failure.
	for _, method := range []string{MethodToken, MethodPassword, MethodUserKey, MethodExternal} {
		for _, o := range []string{OutcomeOK, OutcomeInvalidToken, OutcomeBadCredentials, OutcomeRateLimited} {
			if method == MethodToken && o == OutcomeBadCredentials || method != MethodToken && o == OutcomeInvalidToken {
				continue
			}
			m.authOutcomes.WithLabelValues(method, o)
		}
	}
	return m
}

// Registry is the registry the collectors are in; callers may add their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in Prometheus's text (or OpenMetrics) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true})
}

// ObserveRequest counts one GraphQL HTTP request. operation must come from a fixed set (see
// OperationLabel).
func (m *Metrics) ObserveRequest(operation string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(operation, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(operation).Observe(d.Seconds())
}

// Authentication methods (label values of auth_outcomes_total).
const (
	MethodToken    = "token" // a session token sent with a request
	MethodPassword = "password"
	MethodUserKey  = "user_key"
	MethodRefresh  = "refresh"
	MethodExternal = "external" // a token from an external identity provider (OIDC)
	MethodAPIKey   = "api_key"  // a service key sent in x-api-key
	MethodOther    = "other"
)

// Authentication outcomes (label values of auth_outcomes_total).
const (
	OutcomeOK             = "ok"
	OutcomeInvalidToken   = "invalid_token"
	OutcomeBadCredentials = "bad_credentials"
	OutcomeRateLimited    = "rate_limited"
	OutcomeOTPRequired    = "otp_required"
	OutcomeRefreshReused  = "refresh_reused" // a refresh token shown again: its sign-in has ended
	OutcomeUnavailable    = "unavailable"
	OutcomeQuotaExceeded  = "quota_exceeded" // a service key whose quota is spent
	OutcomeError          = "error"
)

// AuthOutcome counts one authentication attempt. Both values must be among the constants
// above; anything else is counted as MethodOther / OutcomeError.
func (m *Metrics) AuthOutcome(method, outcome string) {
	if m == nil {
		return
	}
	switch method {
	case MethodToken, MethodPassword, MethodUserKey, MethodRefresh, MethodExternal, MethodAPIKey:
	default:
		method = MethodOther
	}
	switch outcome {
	case OutcomeOK, OutcomeInvalidToken, OutcomeBadCredentials, OutcomeRateLimited, OutcomeOTPRequired, OutcomeRefreshReused, OutcomeUnavailable, OutcomeQuotaExceeded:
	default:
		outcome = OutcomeError
	}
	m.authOutcomes.WithLabelValues(method, outcome).Inc()
}

// APQ results.
const (
	APQHit   = "hit"
	APQMiss  = "miss"
	APQStore = "store"
)

// APQ counts one use of the persisted query cache.
func (m *Metrics) APQ(result string) {
	if m == nil {
		return
	}
	m.apq.WithLabelValues(result).Inc()
}
