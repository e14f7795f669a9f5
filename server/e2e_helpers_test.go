package main

// The end-to-end tests live in this package (e2e_*_test.go): each starts the real server with
// run() on a free loopback port and talks to it over real HTTP, against a real redis-server
// (internal/redistest) or the embedded store.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/redistest"
)

const (
	adminName = "admin"
	adminPass = "admin-password-for-tests"
)

// syncBuffer collects the server's log output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testServer struct {
	t   testing.TB
	URL string
	// MetricsURL is the metrics listener's base URL, "" when metrics are off.
	MetricsURL string
	logs       *syncBuffer
	cancel     context.CancelFunc
	done       chan error
}

// startServer runs the server with env (plus defaults that make tests fast and isolated)
// until the test ends or stop is called.
func startServer(t testing.TB, env map[string]string) *testServer {
	t.Helper()
	vars := map[string]string{
		"AUTHGRAPH_ADDR":           "127.0.0.1:0",
		"AUTHGRAPH_METRICS_ADDR":   "127.0.0.1:0",
		"AUTHGRAPH_ADMIN_USERNAME": adminName,
		"AUTHGRAPH_ADMIN_PASSWORD": adminPass,
		"AUTHGRAPH_LOG_LEVEL":      "debug",
	}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{t: t, logs: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	addr := make(chan listening, 1)
	go func() {
		s.done <- run(ctx, nil, func(k string) string { return vars[k] }, s.logs, s.logs, func(a listening) { addr <- a })
	}()
	select {
	case a := <-addr:
		s.URL = "http://" + a.API
		if a.Metrics != "" {
			s.MetricsURL = "http://" + a.Metrics
		}
	case err := <-s.done:
		t.Fatalf("server did not start: %v\n%s", err, s.logs)
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not start in time\n%s", s.logs)
	}
	t.Cleanup(s.stop)
	return s
}

// stop shuts the server down gracefully and waits for it.
func (s *testServer) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("server stopped with %v", err)
		}
	case <-time.After(20 * time.Second):
		s.t.Errorf("server did not stop in time")
	}
}

// startRedisServer starts a throwaway redis-server and an authgraph server on it.
func startRedisServer(t testing.TB, env map[string]string) (*testServer, *redistest.Server) {
	t.Helper()
	rs := redistest.Start(t)
	vars := map[string]string{"AUTHGRAPH_REDIS_URL": rs.URL, "AUTHGRAPH_REDIS_PREFIX": rs.Prefix, "AUTHGRAPH_REDIS_TIMEOUT": "2s"}
	for k, v := range env {
		vars[k] = v
	}
	return startServer(t, vars), rs
}

// gqlResponse is a GraphQL answer.
type gqlResponse struct {
	Status int
	Header http.Header
	Raw    string
	Data   map[string]any
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	}
}

// code is the first error's extensions.code, or "".
func (r *gqlResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// str digs a string out of Data by a dotted path ("createUserKey.id").
func (r *gqlResponse) str(t testing.TB, path string) string {
	t.Helper()
	var v any = r.Data
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("no %q in %s", path, r.Raw)
		}
		v = m[p]
	}
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%q is %T, not a string, in %s", path, v, r.Raw)
	}
	return s
}

// post sends a GraphQL request with the given headers (token goes in x-auth-token if set).
func (s *testServer) post(t testing.TB, token, query string, vars map[string]any, headers ...string) *gqlResponse {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	h := []string{"Content-Type", "application/json"}
	if token != "" {
		h = append(h, "x-auth-token", token)
	}
	return s.raw(t, http.MethodPost, "/graphql", string(body), append(h, headers...)...)
}

// raw sends any request and parses a GraphQL-shaped answer if there is one.
func (s *testServer) raw(t testing.TB, method, path, body string, headers ...string) *gqlResponse {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := &gqlResponse{Status: resp.StatusCode, Header: resp.Header, Raw: string(b)}
	_ = json.Unmarshal(b, out)
	return out
}

// login signs in with a password and answers the session token.
func (s *testServer) login(t testing.TB, username, password string) string {
	t.Helper()
	r := s.post(t, "", `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`,
		map[string]any{"u": username, "p": password})
	if r.code() != "" {
		t.Fatalf("login %s: %s", username, r.Raw)
	}
	return r.str(t, "createSessionUsingUsername.token")
}

// createUser makes a member as the admin.
func (s *testServer) createUser(t *testing.T, adminToken, username, password string) string {
	t.Helper()
	r := s.post(t, adminToken, `mutation($u: String!, $p: String!) { createUser(input: {username: $u, password: $p}) { id } }`,
		map[string]any{"u": username, "p": password})
	if r.code() != "" {
		t.Fatalf("createUser %s: %s", username, r.Raw)
	}
	return r.str(t, "createUser.id")
}
