package verify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/redis/go-redis/v9"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/token"
	"github.com/authgraph/authgraph/verify"
)

// whoami answers the principal's user id and scopes, or "anonymous".
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p, ok := verify.FromContext(r.Context())
	if !ok {
		io.WriteString(w, "anonymous")
		return
	}
	io.WriteString(w, p.UserGID+" "+strings.Join(p.Scopes, ","))
})

type reply struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, url, method string, headers ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// TestMiddlewareOverHTTP: the middleware and RequireAuth through a real listener, with every
// transport and refusal of authgraph's own HTTP layer.
func TestMiddlewareOverHTTP(t *testing.T) {
	w := newWorld(t)
	v := w.verifier(t, verify.Options{})
	u := w.user(t, "carol", auth.RoleMember)
	tok, _ := w.session(t, u, func(s *auth.Session) { s.Scopes = []auth.Scope{auth.ScopeRead} })
	other, _ := w.session(t, u, nil)
	unknown, _ := token.New(token.Session)

	mux := http.NewServeMux()
	mux.Handle("/open", whoami)
	mux.Handle("/closed", verify.RequireAuth(whoami))
	srv := httptest.NewServer(v.Middleware(mux))
	defer srv.Close()
	me := "read"

	for _, tc := range []struct {
		name, path, method string
		headers            []string
		status             int
		body               string // a prefix, or the error code
	}{
		{"no token, open", "/open", "GET", nil, 200, "anonymous"},
		{"no token, closed", "/closed", "GET", nil, 401, "UNAUTHENTICATED"},
		{"x-auth-token", "/closed", "GET", []string{"x-auth-token", tok}, 200, me},
		{"Bearer", "/closed", "GET", []string{"Authorization", "Bearer " + tok}, 200, me},
		{"bare token in Authorization", "/closed", "GET", []string{"Authorization", tok}, 200, me},
		{"same token twice, two transports", "/closed", "GET", []string{"Authorization", "Bearer " + tok, "x-auth-token", tok}, 200, me},
		{"cookie on a JSON POST", "/closed", "POST", []string{"Cookie", "authgraph_session=" + tok, "Content-Type", "application/json"}, 200, me},
		{"cookie with X-Requested-With", "/closed", "GET", []string{"Cookie", "authgraph_session=" + tok, "X-Requested-With", "x"}, 200, me},
		{"cookie on a plain GET is ignored (CSRF)", "/open", "GET", []string{"Cookie", "authgraph_session=" + tok}, 200, "anonymous"},
		{"unknown token, open", "/open", "GET", []string{"x-auth-token", unknown}, 200, "anonymous"},
		{"unknown token, closed", "/closed", "GET", []string{"x-auth-token", unknown}, 401, "UNAUTHENTICATED"},
		{"malformed token", "/closed", "GET", []string{"x-auth-token", "nope"}, 401, "UNAUTHENTICATED"},
		{"two different tokens", "/closed", "GET", []string{"x-auth-token", tok, "Authorization", "Bearer " + other}, 400, "BAD_USER_INPUT"},
		{"x-auth-token twice", "/closed", "GET", []string{"x-auth-token", tok, "x-auth-token", tok}, 400, "BAD_USER_INPUT"},
		{"another scheme", "/closed", "GET", []string{"Authorization", "Basic Zm9vOmJhcg=="}, 400, "BAD_USER_INPUT"},
		{"two session cookies", "/closed", "POST", []string{"Cookie", "authgraph_session=" + tok + "; authgraph_session=" + tok, "Content-Type", "application/json"}, 400, "BAD_USER_INPUT"},
		{"query parameter is not read", "/open?access_token=" + tok, "GET", nil, 200, "anonymous"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, srv.URL+tc.path, tc.method, tc.headers...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if r.status == 200 {
				if !strings.HasSuffix(r.body, tc.body) {
					t.Errorf("body %q, want …%q", r.body, tc.body)
				}
				return
			}
			var e struct {
				Errors []struct {
					Message    string            `json:"message"`
					Extensions map[string]string `json:"extensions"`
				} `json:"errors"`
			}
			if err := json.Unmarshal([]byte(r.body), &e); err != nil || len(e.Errors) != 1 || e.Errors[0].Extensions["code"] != tc.body {
				t.Errorf("body %s, want code %s", r.body, tc.body)
			}
			if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", r.header)
			}
			if r.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("a 401 without WWW-Authenticate")
			}
			if strings.Contains(r.body, tok) || strings.Contains(r.body, unknown) {
				t.Error("the answer echoes a token")
			}
		})
	}
}

// TestRequireAuthDuringAnOutage: a valid-looking token that cannot be checked is a 503, not a
// 401 that would make the client drop it.
func TestRequireAuthDuringAnOutage(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Blackhole(t), ReadTimeout: 50 * time.Millisecond, DialTimeout: 50 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	v, err := verify.New(rdb, verify.Options{CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(v.Middleware(verify.RequireAuth(whoami)))
	defer srv.Close()
	tok, _ := token.New(token.Session)
	r := send(t, srv.URL, "GET", "x-auth-token", tok)
	if r.status != 503 || !strings.Contains(r.body, "SERVICE_UNAVAILABLE") || r.header.Get("Retry-After") == "" {
		t.Fatalf("%d %v %s", r.status, r.header, r.body)
	}
}

// TestDirectives: the gqlgen directive helpers allow, refuse with authgraph's codes, and
// call the resolver only when allowed.
func TestDirectives(t *testing.T) {
	w := newWorld(t)
	v := w.verifier(t, verify.Options{})
	u := w.user(t, "dave", auth.RoleMember)
	tok, _ := w.session(t, u, func(s *auth.Session) { s.Scopes = []auth.Scope{auth.ScopeRead} })
	// The context a request gets behind Middleware.
	ctxOf := func(headers ...string) context.Context {
		var got context.Context
		h := v.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.Context() }))
		r := httptest.NewRequest("GET", "/", nil)
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		return got
	}
	authed, anon := ctxOf("x-auth-token", tok), ctxOf()
	var calls int
	next := graphql.Resolver(func(ctx context.Context) (any, error) { calls++; return "ok", nil })
	code := func(err error) string {
		if err == nil {
			return ""
		}
		e, ok := err.(*gqlerror.Error)
		if !ok {
			return "not a gqlerror: " + err.Error()
		}
		c, _ := e.Extensions["code"].(string)
		return c
	}
	for _, tc := range []struct {
		name string
		run  func() (any, error)
		want string
	}{
		{"@auth, signed in", func() (any, error) { return verify.AuthDirective(authed, nil, next) }, ""},
		{"@auth, anonymous", func() (any, error) { return verify.AuthDirective(anon, nil, next) }, "UNAUTHENTICATED"},
		{"@hasScope(read)", func() (any, error) { return verify.HasScopeDirective(authed, nil, next, "read") }, ""},
		{"@hasScope(keys:write)", func() (any, error) { return verify.HasScopeDirective(authed, nil, next, "keys:write") }, "FORBIDDEN"},
		{"@hasScope, anonymous", func() (any, error) { return verify.HasScopeDirective(anon, nil, next, "read") }, "UNAUTHENTICATED"},
	} {
		before := calls
		_, err := tc.run()
		if got := code(err); got != tc.want {
			t.Errorf("%s: code %q, want %q", tc.name, got, tc.want)
		}
		if ran := calls > before; ran != (tc.want == "") {
			t.Errorf("%s: resolver ran %v", tc.name, ran)
		}
	}
}

// BenchmarkMiddleware: what the middleware costs a product per request, with the cache
// warm: an authenticated request (token read, session and user from memory) against an
// anonymous one (nothing to check). In process, without a listener, so that the figure is
// the middleware's and not the network's.
//
//	go test -run X -bench Middleware -benchtime 2000x ./verify/
func BenchmarkMiddleware(b *testing.B) {
	w := newWorld(b)
	v := w.verifier(b, verify.Options{})
	u := w.user(b, "bench", auth.RoleMember)
	tok, _ := w.session(b, u, nil)
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := verify.FromContext(r.Context()); !ok && r.Header.Get("x-auth-token") != "" {
			panic("not authenticated")
		}
	}))
	run := func(b *testing.B, headers ...string) {
		r := httptest.NewRequest("GET", "/", nil)
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r) // warms the cache
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			h.ServeHTTP(rec, r)
		}
	}
	b.Run("authenticated", func(b *testing.B) { run(b, "x-auth-token", tok) })
	b.Run("anonymous", func(b *testing.B) { run(b) })
}

// BenchmarkProductServer: a product's net/http server behind the verifier, through a real
// listener, answered for a signed-in request (cache warm) and for an anonymous one,
// interleaved; it reports both throughputs and their ratio (the verifier's whole cost in a
// product, against the request's own).
//
//	go test -run X -bench ProductServer -benchtime 20000x ./verify/
func BenchmarkProductServer(b *testing.B) {
	w := newWorld(b)
	v := w.verifier(b, verify.Options{})
	u := w.user(b, "bench", auth.RoleMember)
	tok, _ := w.session(b, u, nil)
	srv := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := verify.FromContext(r.Context()); ok {
			_, _ = w.Write([]byte(p.Username))
			return
		}
		_, _ = w.Write([]byte("anonymous"))
	})))
	defer srv.Close()
	client := srv.Client()
	get := func(token string) time.Duration {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		if token != "" {
			req.Header.Set("x-auth-token", token)
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start)
	}
	for range 200 { // warm the connection and the cache
		get(tok)
		get("")
	}
	var authed, anon time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			authed += get(tok)
		} else {
			anon += get("")
		}
	}
	half := float64(b.N) / 2
	b.ReportMetric(half/authed.Seconds(), "authed-req/s")
	b.ReportMetric(half/anon.Seconds(), "anon-req/s")
	b.ReportMetric(anon.Seconds()/authed.Seconds(), "authed/anon")
}
