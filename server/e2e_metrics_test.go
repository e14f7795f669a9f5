package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// scrape reads /metrics.
func (s *testServer) scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
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
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/metrics with metrics off: %d", resp.StatusCode)
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
