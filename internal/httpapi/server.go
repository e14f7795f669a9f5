package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/rs/zerolog"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/authgraph/authgraph/graph"
	"github.com/authgraph/authgraph/internal/apq"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/metrics"
	"github.com/authgraph/authgraph/internal/redisbudget"
	"github.com/authgraph/authgraph/internal/tracing"
	"github.com/authgraph/authgraph/internal/webui"
)

// queryCacheSize is how many distinct query documents are kept parsed and validated.
const queryCacheSize = 1000

// Config is the HTTP layer's part of the server's configuration.
type Config struct {
	// Version is what the version query answers.
	Version string
	// CORS says which origins browsers may call from (ParseCORS).
	CORS CORSPolicy
	// TrustedProxies are the peers whose X-Forwarded-For names the client (clientip.go).
	TrustedProxies TrustedProxies
	// MaxBodyBytes is the largest request body read; a larger one is answered 413.
	MaxBodyBytes int64
	// RedisTimeout is each request's Redis budget, all its commands together; 0: none.
	RedisTimeout time.Duration
	// CookieSecure marks COOKIE mode cookies Secure and __Host- named even when the request
	// did not arrive over TLS (TLS ends at a proxy in front); AllowQueryToken accepts
	// ?access_token=.
	CookieSecure, AllowQueryToken bool
	// Playground serves the GraphQL playground at /; AccountPage serves the account page
	// at /account; Introspection lets clients ask __schema and __type.
	Playground, AccountPage, Introspection bool
	// Limits on one GraphQL operation (gqllimits.go); MaxTokens bounds the parser.
	MaxDepth, MaxComplexity, MaxFields, MaxAliases, MaxTokens int
	// IntrospectSecret turns token introspection on (introspect.go): the shared secret its
	// callers send. Empty: /introspect is not served.
	IntrospectSecret string
}

func (c Config) transportOptions() transportOptions {
	return transportOptions{cookieSecure: c.CookieSecure, allowQueryToken: c.AllowQueryToken}
}

// Deps is what the handler needs, built by the caller. Only Service is required: a nil
// Metrics, APQ or Tracer turns that part off, and a nil APQLimits leaves persisted queries
// unlimited.
type Deps struct {
	Config  Config
	Service *auth.Service
	Logger  zerolog.Logger
	// Metrics counts requests, sign-ins and persisted queries; nil: off.
	Metrics *metrics.Metrics
	// APQ keeps persisted queries; nil: the protocol is off.
	APQ *apq.Cache
	// APQLimits counts persisted query use per address; nil: no limits.
	APQLimits APQLimiter
	// Tracer gives each request and operation a span; nil: off.
	Tracer *tracing.Tracer
	// IntrospectLimits counts introspection requests per address; nil: no limits.
	IntrospectLimits IntrospectLimiter
	// KeyMeter meters service keys' requests (rate limit, quota, usage); nil: unmetered.
	KeyMeter KeyMeter
}

// Server is the API's HTTP handler.
type Server struct {
	handler http.Handler
}

// New assembles the handler from d.
func New(d Deps) *Server {
	return &Server{handler: newHandler(d)}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// middleware is one step of the way a request takes to its handler.
type middleware func(http.Handler) http.Handler

// chain puts h behind steps, the first step seeing the request first: a list of steps reads
// top down in request order (and bottom up in answer order).
func chain(h http.Handler, steps ...middleware) http.Handler {
	for i := len(steps) - 1; i >= 0; i-- {
		h = steps[i](h)
	}
	return h
}

// newHandler wires the API's HTTP routes: /graphql, /healthz, /readyz, the account page at
// /account, the playground at /, and token introspection at /introspect when it is on. The metrics have a listener of their own
// (MetricsHandler).
func newHandler(d Deps) http.Handler {
	cfg, svc := d.Config, d.Service
	tokens := cfg.transportOptions()
	meter := newServiceMeter(d.KeyMeter)
	graphQL := chain(newGraphQL(d),
		// Counts and times every answer, refusals included, so it sees the request first
		// and the answer last.
		instrument(d.Metrics, tokens),
		// A span per request, continuing the client's traceparent, around all the work
		// below (its Redis calls become children of it).
		traceRequests(d.Tracer, "/graphql"),
		// The request id, the request's logger and its one log line: every step below
		// may log, refuse or fill in the line's fields (operation, user, outcome).
		logRequests(d.Logger),
		// Cache-Control and Vary before anything can answer, so that refusals carry
		// them too.
		cacheHeaders,
		// One Redis budget for everything below that reaches the store: the token's
		// session, the resolvers, the rate limits.
		withRedisBudget(cfg.RedisTimeout),
		// CORS before the body or the method is checked: a preflight is an OPTIONS with
		// no body, which the guard would refuse, and browsers must see the CORS headers
		// on refusals to read them.
		cors(cfg.CORS),
		// The body read once, bounded, before anything parses it: 413 past the limit.
		limitBody(cfg.MaxBodyBytes),
		// What is not one GraphQL request over HTTP is refused here, before any
		// credential is looked up: a malformed request costs no store read.
		guardRequest,
		// Who is calling (the address the rate limits count by, the client's name and
		// user agent) for authentication and the sessions a sign-in makes.
		withClient(cfg.TrustedProxies),
		// The token resolved to a principal; a token sent but not valid is 401 here,
		// before any GraphQL runs.
		authenticate(tokens, svc, meter),
		// Innermost, so that it sees gqlgen's own error answers and only those: every
		// error answer gets the contract's shape.
		shapeErrors,
	)
	mux := http.NewServeMux()
	mux.Handle("/graphql", graphQL)
	mux.Handle("/", chain(http.HandlerFunc(notFound), logRequests(d.Logger)))
	if cfg.AccountPage {
		page := webui.Handler("/account")
		mux.Handle("/account", page)
		mux.Handle("/account/", page)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(redisbudget.With(r.Context(), cfg.RedisTimeout), cfg.RedisTimeout)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain")
		if err := svc.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "store unavailable\n")
			return
		}
		io.WriteString(w, "ok\n")
	})
	if cfg.IntrospectSecret != "" {
		in := newIntrospection(cfg.IntrospectSecret, svc, d.IntrospectLimits, tokens, meter)
		steps := []middleware{
			// The log line names the path only: never the body or headers, where the
			// token and the secret travel.
			logRequests(d.Logger),
			withRedisBudget(cfg.RedisTimeout),
			limitBody(min(cfg.MaxBodyBytes, introspectBodyMax)),
			withClient(cfg.TrustedProxies),
		}
		mux.Handle("/introspect", chain(http.HandlerFunc(in.introspect), steps...))
		mux.Handle("/introspect/auth_request", chain(http.HandlerFunc(in.authRequest), steps...))
	}
	if len(svc.SSOProviderNames()) > 0 {
		h := ssoHandler{svc: svc, opts: tokens, fallback: "/", page: cfg.AccountPage, metrics: d.Metrics}
		if cfg.AccountPage {
			h.fallback = "/account"
		}
		steps := []middleware{
			// The log line names the path only: never the query, where the code travels.
			logRequests(d.Logger),
			cacheHeaders,
			withRedisBudget(cfg.RedisTimeout),
			limitBody(min(cfg.MaxBodyBytes, 4096)),
			withClient(cfg.TrustedProxies),
		}
		mux.Handle("GET /auth/{provider}/start", chain(http.HandlerFunc(h.start), steps...))
		mux.Handle("GET /auth/{provider}/callback", chain(http.HandlerFunc(h.callback), steps...))
		mux.Handle("POST /auth/{provider}/link", chain(http.HandlerFunc(h.link), append(steps, authenticate(tokens, svc, meter))...))
	}
	if cfg.Playground {
		mux.Handle("GET /{$}", playground.Handler("authgraph", "/graphql"))
	}
	// Every route's answers are taken for the Content-Type they declare.
	return chain(mux, noSniff)
}

// traceRequests gives each request a span named after its route (never its URL).
func traceRequests(t *tracing.Tracer, route string) middleware {
	return func(next http.Handler) http.Handler { return t.HTTP(route, next) }
}

// noSniff tells browsers to take every answer for the Content-Type it declares, never to
// guess another from the bytes (a JSON error echoing input rendered as HTML, say).
func noSniff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// credentialHeaders are the request headers a GraphQL answer depends on, besides the URL and
// body: the token transports.
const credentialHeaders = "X-Auth-Token, Authorization, Cookie"

// cacheHeaders keeps GraphQL answers out of shared and browser caches whenever they may be
// someone's: every answer is no-store (the error answers and those that set a cookie say so
// on their own as well) except a GET's that carries no credential at all, whose answer is the
// same for every anonymous caller, so a CDN may keep public queries. Vary names the token
// transports on every answer, so that a cache that does keep an anonymous answer never hands
// it to a request that carries a token. A GET never runs a mutation, so no sign-in answer (the
// only ones that carry a token) is ever cacheable.
func cacheHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", credentialHeaders)
		if r.Method != http.MethodGet || carriesCredential(r) {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// carriesCredential reports whether r has any token transport at all, whatever it holds and
// whether or not it will be honoured: any cookie counts.
func carriesCredential(r *http.Request) bool {
	if r.Header["X-Auth-Token"] != nil || r.Header["Authorization"] != nil || r.Header["Cookie"] != nil {
		return true
	}
	if r.URL.RawQuery == "" {
		return false
	}
	_, ok := r.URL.Query()[queryTokenParam] // parsed as the transport parses it: a%5Fb is a_b
	return ok
}

// newGraphQL is gqlgen's handler with authgraph's limits: the operation's shape
// (queryLimits: depth, fields, aliases, introspection) is checked first, then its
// complexity (each field costs 1, lists cost their page size); the parser stops at
// MaxTokens. One operation per request (POST and GET transports only: no batching, no
// websockets, no multipart).
func newGraphQL(d Deps) http.Handler {
	cfg := d.Config
	srv := handler.New(graph.NewExecutableSchema(graph.Config{
		Resolvers:  &graph.Resolver{Service: d.Service, Version: cfg.Version},
		Directives: graph.Directives(),
		Complexity: graph.Complexity(),
	}))
	srv.AddTransport(getTransport{})
	srv.AddTransport(transport.POST{})
	// Parsed and validated documents by query text: clients send the same few queries over
	// and over, and parsing and validating one costs more than answering {version}. Bounded
	// in entries, so that made-up queries only evict each other, and in the size of each:
	// see smallDocs.
	srv.SetQueryCache(smallDocs{lru.New[*ast.QueryDocument](queryCacheSize)})
	srv.SetParserTokenLimit(cfg.MaxTokens)
	srv.Use(queryLimits{MaxDepth: cfg.MaxDepth, MaxFields: cfg.MaxFields, MaxAliases: cfg.MaxAliases, Introspection: cfg.Introspection})
	if cfg.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		// "Did you mean …" names fields, arguments, types and enum values near what was
		// typed: asked for many misspellings, that is the schema introspection would give.
		srv.SetValidationRulesFn(rulesWithoutSuggestions)
		srv.SetDisableSuggestion(true)
	}
	srv.Use(extension.FixedComplexityLimit(cfg.MaxComplexity))
	srv.Use(graph.RowLoaders{Service: d.Service}) // a page of users costs one store read per field
	usePersistedQueries(srv, d.APQ, d.APQLimits)
	observeGraphQL(srv, d.Metrics)
	traceGraphQL(srv, d.Tracer)
	srv.SetErrorPresenter(graph.PresentError)
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		zerolog.Ctx(ctx).Error().Interface("panic", p).Msg("panic in resolver")
		return errors.New("panic") // masked by PresentError
	})
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		name := oc.OperationName
		if name == "" && oc.Operation != nil {
			name = oc.Operation.Name
		}
		if name == "" && oc.Operation != nil {
			name = string(oc.Operation.Operation) // "query" / "mutation"
		}
		notes(ctx).operation = clipLog(name)
		return next(ctx)
	})
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		if resp != nil && len(resp.Errors) == 0 {
			notes(ctx).code = "OK"
		}
		if resp != nil && len(resp.Errors) > 0 {
			codes := make([]string, 0, len(resp.Errors))
			for _, e := range resp.Errors {
				if c, ok := e.Extensions["code"].(string); ok {
					codes = append(codes, c)
				}
				if ra, ok := e.Extensions["retryAfter"].(int); ok {
					notes(ctx).retryAfter = max(notes(ctx).retryAfter, ra)
				}
			}
			if s := statusFor(codes); s != http.StatusOK {
				notes(ctx).status = s
			}
			notes(ctx).code = logCodes(codes)
		}
		return resp
	})
	return srv
}

// rulesWithoutSuggestions are gqlparser's default validation rules with every rule that
// suggests names swapped for its twin that does not. (gqlgen's SetDisableSuggestion alone
// swaps only two of the five.)
func rulesWithoutSuggestions() *rules.Rules {
	r := rules.NewDefaultRules()
	for _, swap := range []struct {
		name    string
		without core.Rule
	}{
		{"FieldsOnCorrectType", rules.FieldsOnCorrectTypeRuleWithoutSuggestions},
		{"ScalarLeafs", rules.ScalarLeafsRuleWithoutSuggestions},
		{"KnownArgumentNames", rules.KnownArgumentNamesRuleWithoutSuggestions},
		{"KnownTypeNames", rules.KnownTypeNamesRuleWithoutSuggestions},
		{"ValuesOfCorrectType", rules.ValuesOfCorrectTypeRuleWithoutSuggestions},
	} {
		r.RemoveRule(swap.name)
		r.AddRule(swap.without.Name, swap.without.RuleFunc)
	}
	return r
}

// smallDocs keeps only documents of at most apq.MaxQueryBytes: an entry holds its whole
// text, and a comment costs no parser token, so a valid query padded to the body limit
// would otherwise pin a megabyte per entry (a gigabyte for the cache full of them, from
// anonymous requests). Larger documents are parsed each time, which MaxTokens bounds.
type smallDocs struct {
	graphql.Cache[*ast.QueryDocument]
}

func (c smallDocs) Add(ctx context.Context, query string, doc *ast.QueryDocument) {
	if len(query) <= apq.MaxQueryBytes {
		c.Cache.Add(ctx, query, doc)
	}
}

// limitBody reads at most max bytes of the request body; a larger body is answered 413
// before anything parses it.
func limitBody(max int64) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > max {
				writeError(w, http.StatusRequestEntityTooLarge, auth.CodeInvalidInput, "The request body is too large.")
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
				if err != nil {
					var tooLarge *http.MaxBytesError
					if errors.As(err, &tooLarge) {
						writeError(w, http.StatusRequestEntityTooLarge, auth.CodeInvalidInput, "The request body is too large.")
						return
					}
					writeError(w, http.StatusBadRequest, auth.CodeInvalidInput, "The request body could not be read.")
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			next.ServeHTTP(w, r)
		})
	}
}

// withClient records who is calling (Apollo client headers, User-Agent, peer address) for
// the sessions the request may create.
// The address is the peer's, or the one a trusted proxy names (clientip.go): it is what
// the rate limits count by.
func withClient(trusted TrustedProxies) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := auth.ClientInfo{
				Name:      r.Header.Get("apollographql-client-name"),
				Version:   r.Header.Get("apollographql-client-version"),
				UserAgent: r.Header.Get("User-Agent"),
				IP:        clientIP(r, trusted),
			}
			ctx := auth.WithClient(r.Context(), c)
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// withRedisBudget gives each request AUTHGRAPH_REDIS_TIMEOUT of Redis time in all: however
// many commands it runs, and however go-redis retries and redials them, a request waits on
// Redis at most that long in total, then answers 503. Without it, a hung (not down) Redis
// would hold a login for the timeout times the retries times the commands. (The Redis client
// charges its commands to the budget: see internal/redisbudget.)
func withRedisBudget(d time.Duration) middleware {
	return func(next http.Handler) http.Handler {
		if d <= 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(redisbudget.With(r.Context(), d)))
		})
	}
}

// logCodes is the log line's code for an answer with errors: their distinct codes, at most
// three, comma-separated ("ERROR" if none carries one). Codes are the server's own words,
// never the client's.
func logCodes(codes []string) string {
	var out []string
	for _, c := range codes {
		if len(out) == 3 {
			break
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "ERROR"
	}
	return strings.Join(out, ",")
}
