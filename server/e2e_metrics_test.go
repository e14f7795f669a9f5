package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// scrape reads /metrics from the metrics listener.
func (s *testServer) scrape(t *testing.T) string {
	t.Helper()
	if s.MetricsURL == "" {
		t.Fatal("the metrics listener is off")
	}
	resp, err := http.Get(s.MetricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// TestMetricsRedis drives sign-ins that succeed and fail, a bad token and some operations
// through a Redis-backed server, then checks what /metrics says, and that nothing a client
// chose (operation names, aliases, secrets) became a label.
func TestMetricsRedis(t *testing.T) {
	srv, _ := startRedisServer(t, nil)
	const opName, alias = "ClientChosenOperationName", "clientChosenAlias"
	admin := srv.login(t, adminName, adminPass)
	bad := srv.post(t, "", `mutation { createSessionUsingUsername(input: {username: "admin", password: "wrong-password"}) { token } }`, nil)
	if bad.code() != "INVALID_CREDENTIALS" {
		t.Fatal(bad.Raw)
	}
	if r := srv.post(t, "bogus-token-value", `{ version }`, nil); r.Status != http.StatusUnauthorized {
		t.Fatal(r.Raw)
	}
	if r := srv.post(t, admin, `query `+opName+` { `+alias+`: me { id } }`, nil); r.code() != "" {
		t.Fatal(r.Raw)
	}
	if r := srv.post(t, admin, `{ nope }`, nil); r.code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Fatal(r.Raw)
	}
	keyResp := srv.post(t, admin, `mutation { createUserKey { id secret } }`, nil)
	keyID, secret := keyResp.str(t, "createUserKey.id"), keyResp.str(t, "createUserKey.secret")
	kr := srv.post(t, "", `mutation($id: ObjectID!, $s: String!) { createSessionUsingUserKey(input: {userKeyId: $id, secret: $s}) { token } }`, map[string]any{"id": keyID, "s": secret})
	keyToken := kr.str(t, "createSessionUsingUserKey.token")

	body := srv.scrape(t)
	for _, want := range []string{
		`authgraph_graphql_requests_total{operation="createSessionUsingUsername",status="200"} 2`,
		`authgraph_graphql_requests_total{operation="me",status="200"} 1`,
		`authgraph_graphql_requests_total{operation="none",status="401"} 1`,
		`authgraph_graphql_requests_total{operation="none",status="422"} 1`,
		`authgraph_graphql_request_duration_seconds_bucket{operation="createSessionUsingUsername",le=`,
		`authgraph_auth_outcomes_total{method="password",outcome="ok"} 1`,
		`authgraph_auth_outcomes_total{method="password",outcome="bad_credentials"} 1`,
		`authgraph_auth_outcomes_total{method="user_key",outcome="ok"} 1`,
		`authgraph_auth_outcomes_total{method="token",outcome="invalid_token"} 1`,
		`authgraph_auth_outcomes_total{method="token",outcome="ok"} 3`,
		`authgraph_auth_outcomes_total{method="password",outcome="rate_limited"} 0`,
		`authgraph_argon2_queue_depth `,
		`authgraph_argon2_in_flight `,
		`authgraph_argon2_queue_wait_seconds_total `,
		`authgraph_redis_pool_connections{state="total"} `,
		`authgraph_redis_pool_hits_total `,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in /metrics", want)
		}
	}
	for _, secretish := range []string{opName, alias, adminPass, "wrong-password", "bogus-token-value", admin, secret, keyToken} {
		if strings.Contains(body, secretish) {
			t.Errorf("/metrics contains %q", secretish)
		}
	}
	// Every label value of authgraph's own metrics is an identifier or a number.
	labelValue := regexp.MustCompile(`="([^"]*)"`)
	allowed := regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*|[0-9.eE+-]+|\+Inf)$`)
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "authgraph_") {
			continue
		}
		for _, m := range labelValue.FindAllStringSubmatch(line, -1) {
			if !allowed.MatchString(m[1]) {
				t.Errorf("unexpected label value %q in %s", m[1], line)
			}
		}
	}
	assertNoSecretIn(t, "/metrics", body, []string{adminPass, admin, secret, keyToken})
}

func TestMetricsCanBeTurnedOff(t *testing.T) {
	srv := startServer(t, map[string]string{"AUTHGRAPH_METRICS": "false"})
	if srv.MetricsURL != "" || !strings.Contains(srv.logs.String(), "metrics: off") {
		t.Fatalf("a metrics listener with metrics off: %q", srv.MetricsURL)
	}
	if r := srv.raw(t, http.MethodGet, "/metrics", ""); r.Status != http.StatusNotFound {
		t.Fatalf("/metrics with metrics off: %d", r.Status)
	}
	if r := srv.post(t, "", `{ version }`, nil); r.code() != "" {
		t.Fatal(r.Raw)
	}
}

// TestMetricsCookieAndRefresh: a token in the COOKIE mode cookie is counted like one in a
// header, and refreshes are counted, a reused refresh token as refresh_reused.
func TestMetricsCookieAndRefresh(t *testing.T) {
	srv := startServer(t, map[string]string{"AUTHGRAPH_REFRESH_GRACE": "0"})
	r := srv.post(t, "", `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p, mode: COOKIE}) { token } }`,
		map[string]any{"u": adminName, "p": adminPass})
	var cookie string
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if strings.HasSuffix(c.Name, "authgraph_session") {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		t.Fatalf("no session cookie: %v %s", r.Header, r.Raw)
	}
	if me := srv.raw(t, http.MethodPost, "/graphql", `{"query":"{ me { username } }"}`, "Content-Type", "application/json", "Cookie", cookie); me.str(t, "me.username") != adminName {
		t.Fatalf("cookie request: %s", me.Raw)
	}
	rr := srv.post(t, "", `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p, refreshable: true}) { refreshToken } }`,
		map[string]any{"u": adminName, "p": adminPass})
	refresh := rr.str(t, "createSessionUsingUsername.refreshToken")
	const q = `mutation($r: String) { refreshSession(input: {refreshToken: $r}) { token } }`
	if r := srv.post(t, "", q, map[string]any{"r": refresh}); r.code() != "" {
		t.Fatalf("refresh: %s", r.Raw)
	}
	if r := srv.post(t, "", q, map[string]any{"r": refresh}); r.code() != "REFRESH_TOKEN_REUSED" {
		t.Fatalf("reuse: %s", r.Raw)
	}
	body := srv.scrape(t)
	for _, want := range []string{
		`authgraph_auth_outcomes_total{method="token",outcome="ok"} 1`,
		`authgraph_auth_outcomes_total{method="refresh",outcome="ok"} 1`,
		`authgraph_auth_outcomes_total{method="refresh",outcome="refresh_reused"} 1`,
		`authgraph_graphql_requests_total{operation="refreshSession",status="200"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in /metrics", want)
		}
	}
	assertNoSecretIn(t, "/metrics", body, []string{refresh, strings.SplitN(cookie, "=", 2)[1]})
}

// The metrics have a listener of their own: the API's address answers 404 for /metrics (in
// development too), and the metrics listener serves /metrics and nothing else.
func TestMetricsListenerIsApartFromTheAPI(t *testing.T) {
	srv := startServer(t, nil)
	if srv.MetricsURL == "" || srv.MetricsURL == srv.URL {
		t.Fatalf("metrics at %q, API at %q", srv.MetricsURL, srv.URL)
	}
	r := srv.raw(t, http.MethodGet, "/metrics", "")
	if r.Status != http.StatusNotFound || strings.Contains(r.Raw, "go_goroutines") {
		t.Fatalf("/metrics on the API's address: %d %.200s", r.Status, r.Raw)
	}
	assertContractShape(t, r)
	if !strings.Contains(srv.scrape(t), "authgraph_argon2_workers") {
		t.Fatal("the metrics listener does not serve the metrics")
	}
	api := &testServer{t: t, URL: srv.MetricsURL}
	for _, path := range []string{"/", "/graphql", "/healthz", "/metricsx"} {
		r := api.raw(t, http.MethodGet, path, "")
		if r.Status != http.StatusNotFound || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s on the metrics listener: %d %v", path, r.Status, r.Header)
		}
	}
	if r := api.raw(t, http.MethodGet, "/metrics", ""); r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("/metrics without nosniff: %v", r.Header)
	}
}

// With AUTHGRAPH_METRICS_TOKEN, a scrape must carry it as a bearer token.
func TestMetricsToken(t *testing.T) {
	const token = "metrics-token-for-tests-0123456789"
	srv := startServer(t, map[string]string{"AUTHGRAPH_METRICS_TOKEN": token})
	m := &testServer{t: t, URL: srv.MetricsURL}
	for _, tt := range []struct {
		name string
		h    http.Header
		want int
	}{
		{"no token", http.Header{}, http.StatusUnauthorized},
		{"a wrong token", http.Header{"Authorization": {"Bearer " + token + "x"}}, http.StatusUnauthorized},
		{"a prefix of the token", http.Header{"Authorization": {"Bearer " + token[:20]}}, http.StatusUnauthorized},
		{"another scheme", http.Header{"Authorization": {"Basic " + token}}, http.StatusUnauthorized},
		{"the token twice", http.Header{"Authorization": {"Bearer " + token, "Bearer " + token}}, http.StatusUnauthorized},
		{"the token", http.Header{"Authorization": {"Bearer " + token}}, http.StatusOK},
		{"the token, scheme in lower case", http.Header{"Authorization": {"bearer " + token}}, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := m.rawHeader(t, http.MethodGet, "/metrics", "", tt.h)
			if r.Status != tt.want {
				t.Fatalf("%d, want %d: %.200s", r.Status, tt.want, r.Raw)
			}
			if tt.want == http.StatusOK {
				if !strings.Contains(r.Raw, "go_goroutines") {
					t.Fatalf("no metrics: %.200s", r.Raw)
				}
				return
			}
			if r.Header.Get("WWW-Authenticate") == "" || r.code() != "UNAUTHENTICATED" || strings.Contains(r.Raw, "go_goroutines") {
				t.Fatalf("%v %s", r.Header, r.Raw)
			}
		})
	}
	assertNoSecretIn(t, "the log", srv.logs.String(), []string{token})
	for _, short := range []string{"short", "fifteen-chars-x"} {
		if _, err := loadConfig(nil, func(k string) string { return map[string]string{"AUTHGRAPH_METRICS_TOKEN": short}[k] }, io.Discard); err == nil || strings.Contains(err.Error(), short) {
			t.Fatalf("a %d-character token: %v", len(short), err)
		}
	}
}

// The metrics listener starts and stops with the server: an address already taken fails the
// start with a clear error (and frees the API's address), and a graceful stop closes it.
func TestMetricsListenerStartsAndStopsWithTheServer(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	apiAddr := free.Addr().String()
	free.Close()
	vars := map[string]string{"AUTHGRAPH_ADDR": apiAddr, "AUTHGRAPH_METRICS_ADDR": taken.Addr().String()}
	var logs syncBuffer
	err = run(context.Background(), nil, func(k string) string { return vars[k] }, &logs, &logs, func(listening) {
		t.Error("the server started with its metrics address taken")
	})
	if err == nil || !strings.Contains(err.Error(), "AUTHGRAPH_METRICS_ADDR") || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Fatalf("start with the metrics address taken: %v", err)
	}
	again, err := net.Listen("tcp", apiAddr)
	if err != nil {
		t.Fatalf("the API's address was left taken: %v", err)
	}
	again.Close()

	// While the API drains a request in flight, the metrics still answer; then they stop too.
	srv := startServer(t, map[string]string{"AUTHGRAPH_SHUTDOWN_TIMEOUT": "20s"})
	metricsAddr := strings.TrimPrefix(srv.MetricsURL, "http://")
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"query":"{ version }"}`
	// The server sends 100 Continue once the handler reads the body: from then on the request
	// is in flight, and the body is sent only after the drain has begun.
	fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(body))
	br := bufio.NewReader(conn)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("no 100 Continue: %v %v", resp, err)
	}
	srv.cancel() // what SIGTERM does; stop waits for the end below
	waitConnRefused(t, strings.TrimPrefix(srv.URL, "http://"))
	srv.scrape(t)
	fmt.Fprint(conn, body)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the request in flight: %v %v", resp, err)
	}
	resp.Body.Close()
	srv.stop()
	if c, err := net.Dial("tcp", metricsAddr); err == nil {
		c.Close()
		t.Fatal("the metrics listener still accepts connections after the server stopped")
	}
}
