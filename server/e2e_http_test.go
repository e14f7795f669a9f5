package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/token"
)

func TestPublicAndGuardedOperations(t *testing.T) {
	srv := startServer(t, nil)
	tests := []struct {
		name, query string
		wantCode    string
	}{
		{"version is public", `{ version }`, ""},
		{"me needs a session", `{ me { id } }`, "UNAUTHENTICATED"},
		{"createUserKey needs a session", `mutation { createUserKey { id } }`, "UNAUTHENTICATED"},
		{"deleteSession needs a session", `mutation { deleteSession { id } }`, "UNAUTHENTICATED"},
		{"createUser needs a session", `mutation { createUser(input: {username: "x", password: "y"}) { id } }`, "UNAUTHENTICATED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := srv.post(t, "", tt.query, nil)
			if r.Status != http.StatusOK || r.code() != tt.wantCode {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
		})
	}
}

func TestRolesAndInputErrors(t *testing.T) {
	srv := startServer(t, nil)
	admin := srv.login(t, adminName, adminPass)
	userID := srv.createUser(t, admin, "carol", "carol-password")
	carol := srv.login(t, "carol", "carol-password")

	tests := []struct {
		name, token, query string
		vars               map[string]any
		wantCode           string
	}{
		{"a member cannot create users", carol, `mutation { createUser(input: {username: "d", password: "dddddddd"}) { id } }`, nil, "FORBIDDEN"},
		{"a taken username", admin, `mutation { createUser(input: {username: "carol", password: "another-long-one"}) { id } }`, nil, "CONFLICT"},
		{"an empty username", admin, `mutation { createUser(input: {username: "", password: "another-one"}) { id } }`, nil, "BAD_USER_INPUT"},
		{"a malformed ObjectID", carol, `mutation { deleteUserKey(input: {userKeyId: "%%%"}) { userKey { id } } }`, nil, "BAD_USER_INPUT"},
		{"an ObjectID of another type", carol, `mutation($id: ObjectID!) { deleteUserKey(input: {userKeyId: $id}) { userKey { id } } }`, map[string]any{"id": userID}, "BAD_USER_INPUT"},
		{"a negative integer id", carol, `mutation { deleteUserKey(input: {userKeyId: -4}) { userKey { id } } }`, nil, "BAD_USER_INPUT"},
		{"an unknown key", carol, `mutation { deleteUserKey(input: {userKeyId: 999}) { userKey { id } } }`, nil, "NOT_FOUND"},
		{"an expiry in the past", carol, `mutation { createUserKey(input: {expiresAt: "2001-01-01T00:00:00Z"}) { id } }`, nil, "BAD_USER_INPUT"},
		{"a malformed DateTime", carol, `mutation { createUserKey(input: {expiresAt: "tomorrow"}) { id } }`, nil, "BAD_USER_INPUT"},
		{"a wrong variable type", carol, `mutation($id: ObjectID!) { deleteUserKey(input: {userKeyId: $id}) { userKey { id } } }`, map[string]any{"id": true}, "BAD_USER_INPUT"},
		{"an unknown field", carol, `{ nope }`, nil, "GRAPHQL_VALIDATION_FAILED"},
		{"a syntax error", carol, `{ me { `, nil, "GRAPHQL_PARSE_FAILED"},
		{"a bad cursor", carol, `{ me { sessions(after: "zz") { totalCount } } }`, nil, "BAD_USER_INPUT"},
		{"a page too large", carol, `{ me { sessions(first: 5000) { totalCount } } }`, nil, "BAD_USER_INPUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := srv.post(t, tt.token, tt.query, tt.vars)
			if r.code() != tt.wantCode {
				t.Fatalf("code %q, want %q: %d %s", r.code(), tt.wantCode, r.Status, r.Raw)
			}
			if r.Status >= 500 {
				t.Fatalf("status %d for bad input", r.Status)
			}
		})
	}
}

func TestTransportRules(t *testing.T) {
	srv := startServer(t, map[string]string{"AUTHGRAPH_MAX_BODY_BYTES": "4096"})
	admin := srv.login(t, adminName, adminPass)
	json401 := `{"errors":[{"message":"Unauthorized. Please provide a valid authentication token.","extensions":{"code":"UNAUTHENTICATED"}}]}`

	t.Run("Authorization Bearer is accepted", func(t *testing.T) {
		r := srv.raw(t, "POST", "/graphql", `{"query":"{ me { username } }"}`, "Content-Type", "application/json", "Authorization", "Bearer "+admin)
		if r.str(t, "me.username") != adminName {
			t.Fatal(r.Raw)
		}
	})
	t.Run("the same token twice is fine", func(t *testing.T) {
		r := srv.raw(t, "POST", "/graphql", `{"query":"{ me { username } }"}`, "Content-Type", "application/json", "Authorization", "Bearer "+admin, "x-auth-token", admin)
		if r.Status != 200 || r.code() != "" {
			t.Fatal(r.Raw)
		}
	})
	t.Run("two different tokens are refused", func(t *testing.T) {
		r := srv.raw(t, "POST", "/graphql", `{"query":"{ version }"}`, "Content-Type", "application/json", "Authorization", "Bearer "+admin, "x-auth-token", "ags_other")
		if r.Status != http.StatusBadRequest || r.code() != "BAD_USER_INPUT" {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	t.Run("a bare session token in Authorization is accepted", func(t *testing.T) {
		r := srv.raw(t, "POST", "/graphql", `{"query":"{ me { username } }"}`, "Content-Type", "application/json", "Authorization", admin)
		if r.Status != 200 || r.str(t, "me.username") != adminName {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	t.Run("a bare well-formed token that names no session is 401", func(t *testing.T) {
		unknown, err := token.New(token.Session)
		if err != nil {
			t.Fatal(err)
		}
		r := srv.raw(t, "POST", "/graphql", `{"query":"{ version }"}`, "Content-Type", "application/json", "Authorization", unknown)
		if r.Status != http.StatusUnauthorized || strings.TrimSpace(r.Raw) != json401 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	t.Run("anything else without the Bearer scheme is 400", func(t *testing.T) {
		broken := admin[:len(admin)-1] + map[bool]string{true: "1", false: "0"}[admin[len(admin)-1] == '0']
		for _, v := range []string{broken, "nope", "Basic YWRtaW46YWRtaW4=", "Token " + admin} {
			r := srv.raw(t, "POST", "/graphql", `{"query":"{ version }"}`, "Content-Type", "application/json", "Authorization", v)
			if r.Status != http.StatusBadRequest || r.code() != "BAD_USER_INPUT" || !strings.Contains(r.Raw, "of the form: Bearer") {
				t.Fatalf("Authorization %.10q…: %d %s", v, r.Status, r.Raw)
			}
		}
	})
	t.Run("an invalid Bearer token is 401", func(t *testing.T) {
		r := srv.raw(t, "POST", "/graphql", `{"query":"{ version }"}`, "Content-Type", "application/json", "Authorization", "Bearer nope")
		if r.Status != http.StatusUnauthorized || strings.TrimSpace(r.Raw) != json401 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	t.Run("GET runs queries", func(t *testing.T) {
		r := srv.raw(t, "GET", "/graphql?query="+url.QueryEscape("{ me { username } }"), "", "x-auth-token", admin)
		if r.Status != 200 || r.str(t, "me.username") != adminName {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	t.Run("GET never runs a mutation", func(t *testing.T) {
		r := srv.raw(t, "GET", "/graphql?query="+url.QueryEscape("mutation { deleteSession { id } }"), "", "x-auth-token", admin)
		if r.Status == 200 || len(r.Errors) == 0 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		if r := srv.post(t, admin, `{ version }`, nil); r.Status != 200 {
			t.Fatalf("the session ended through GET: %d %s", r.Status, r.Raw)
		}
	})
	t.Run("a body over the limit is 413", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"query": "{ version }", "variables": map[string]any{"pad": strings.Repeat("x", 5000)}})
		r := srv.raw(t, "POST", "/graphql", string(body), "Content-Type", "application/json")
		if r.Status != http.StatusRequestEntityTooLarge || r.code() != "BAD_USER_INPUT" {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	t.Run("malformed JSON is a 4xx", func(t *testing.T) {
		r := srv.raw(t, "POST", "/graphql", `{"query": `, "Content-Type", "application/json")
		if r.Status < 400 || r.Status >= 500 || len(r.Errors) == 0 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	t.Run("CORS preflight allows the Apollo and token headers", func(t *testing.T) {
		r := srv.raw(t, "OPTIONS", "/graphql", "", "Origin", "https://app.example", "Access-Control-Request-Method", "POST")
		allowed := strings.ToLower(r.Header.Get("Access-Control-Allow-Headers"))
		for _, h := range []string{"apollographql-client-name", "apollographql-client-version", "x-auth-token", "authorization", "content-type"} {
			if !strings.Contains(allowed, h) {
				t.Fatalf("preflight does not allow %s: %q", h, allowed)
			}
		}
		if r.Status != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Fatalf("%d %v", r.Status, r.Header)
		}
	})
	t.Run("health and readiness", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz"} {
			if r := srv.raw(t, "GET", p, ""); r.Status != 200 {
				t.Fatalf("%s: %d", p, r.Status)
			}
		}
	})
	t.Run("the playground is served at /", func(t *testing.T) {
		if r := srv.raw(t, "GET", "/", ""); r.Status != 200 || !strings.Contains(r.Raw, "<html") {
			t.Fatalf("%d", r.Status)
		}
	})
	t.Run("one log line per request, with what operators need and no secret", func(t *testing.T) {
		srv.raw(t, "POST", "/graphql", `{"query":"query WhoAmI { me { id } }"}`, "Content-Type", "application/json", "x-auth-token", admin,
			"apollographql-client-name", "log-test-client", "apollographql-client-version", "9.9.9")
		var line map[string]any
		for _, l := range strings.Split(srv.logs.String(), "\n") {
			if strings.Contains(l, "log-test-client") {
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Fatalf("log line is not JSON: %s", l)
				}
			}
		}
		for _, f := range []string{"request_id", "operation", "client_name", "client_version", "user_id", "status", "duration"} {
			if _, ok := line[f]; !ok {
				t.Fatalf("log line lacks %s: %v", f, line)
			}
		}
		if line["operation"] != "WhoAmI" || line["client_version"] != "9.9.9" {
			t.Fatalf("log line: %v", line)
		}
		assertNoSecretIn(t, "the log", srv.logs.String(), []string{admin, adminPass})
	})
}

func TestPlaygroundCanBeTurnedOff(t *testing.T) {
	srv := startServer(t, map[string]string{"AUTHGRAPH_PLAYGROUND": "false"})
	if r := srv.raw(t, "GET", "/", ""); r.Status != http.StatusNotFound {
		t.Fatalf("playground still served: %d", r.Status)
	}
}

func TestSessionTTLIsConfigurable(t *testing.T) {
	srv := startServer(t, map[string]string{"AUTHGRAPH_SESSION_TTL": "1h"})
	r := srv.post(t, "", `mutation { createSessionUsingUsername(input: {username: "`+adminName+`", password: "`+adminPass+`"}) { expiresIn expiresAt createdAt } }`, nil)
	var got struct {
		CreateSessionUsingUsername struct{ ExpiresIn int }
	}
	b, _ := json.Marshal(r.Data)
	_ = json.Unmarshal(b, &got)
	if n := got.CreateSessionUsingUsername.ExpiresIn; n < 3590 || n > 3600 {
		t.Fatalf("expiresIn = %d, want about 3600: %s", n, r.Raw)
	}
}

// A Redis outage is a 503 for whatever needs Redis, never a 401 that would log users out, and
// everything works again when Redis is back, without a restart.
func TestRedisOutageIs503NotUnauthorized(t *testing.T) {
	srv, rs := startRedisServer(t, nil)
	if rs.External {
		t.Skip("stopping Redis needs a private redis-server, not " + redistest.EnvURL)
	}
	admin := srv.login(t, adminName, adminPass)

	rs.Stop()
	if r := srv.post(t, admin, `{ me { id } }`, nil); r.Status != http.StatusServiceUnavailable || r.code() != "SERVICE_UNAVAILABLE" {
		t.Fatalf("authenticated request during outage: %d %s", r.Status, r.Raw)
	}
	r := srv.post(t, "", `mutation { createSessionUsingUsername(input: {username: "`+adminName+`", password: "`+adminPass+`"}) { token } }`, nil)
	if r.Status != http.StatusServiceUnavailable || r.code() != "SERVICE_UNAVAILABLE" {
		t.Fatalf("login during outage: %d %s", r.Status, r.Raw)
	}
	if r := srv.raw(t, "GET", "/readyz", ""); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during outage: %d", r.Status)
	}
	if r := srv.raw(t, "GET", "/healthz", ""); r.Status != http.StatusOK {
		t.Fatalf("/healthz during outage: %d", r.Status)
	}

	rs.Restart()
	if r := srv.raw(t, "GET", "/readyz", ""); r.Status != http.StatusOK {
		t.Fatalf("/readyz after outage: %d", r.Status)
	}
	// The throwaway Redis keeps no data across its restart, so the admin is gone: the answer
	// must come from Redis again (INVALID_CREDENTIALS), not 503, and without restarting
	// authgraph.
	r = srv.post(t, "", `mutation { createSessionUsingUsername(input: {username: "`+adminName+`", password: "`+adminPass+`"}) { token } }`, nil)
	if r.Status != http.StatusOK || r.code() != "INVALID_CREDENTIALS" {
		t.Fatalf("login after outage: %d %s", r.Status, r.Raw)
	}
}
