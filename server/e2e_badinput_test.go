package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// assertContractShape fails unless r's body is {"errors":[{"message","extensions":{"code"}}]}
// with at least one error, each with a non-empty message and code.
func assertContractShape(t *testing.T, r *gqlResponse) {
	t.Helper()
	var body struct {
		Errors []struct {
			Message    *string        `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &body); err != nil || len(body.Errors) == 0 {
		t.Fatalf("not the contract's error shape: %d %q", r.Status, r.Raw)
	}
	for _, e := range body.Errors {
		code, _ := e.Extensions["code"].(string)
		if e.Message == nil || *e.Message == "" || code == "" {
			t.Fatalf("an error without a message or code: %d %s", r.Status, r.Raw)
		}
	}
}

// Bad input of every kind gets a clear 4xx (or a GraphQL error) in the contract's shape:
// never a 5xx, never a panic, never an echo of the body.
func TestBadInputIsA4xxInTheContractShape(t *testing.T) {
	srv := startServer(t, nil)
	admin := srv.login(t, adminName, adminPass)
	const json = "application/json"
	loginQ := `mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }`
	keyQ := `mutation($id: ObjectID!) { createSessionUsingUserKey(input: {userKeyId: $id, secret: "agk_x"}) { token } }`
	body := func(query string, vars map[string]any) string {
		b, _ := jsonMarshal(map[string]any{"query": query, "variables": vars})
		return b
	}
	tests := []struct {
		name, method, contentType, body string
		token                           string
		wantStatus                      int
		wantCode                        string
		wantInMessage                   string
	}{
		{"malformed JSON", "POST", json, `{"query": `, "", 400, "BAD_USER_INPUT", "not valid JSON"},
		{"malformed JSON quoting a password is not echoed", "POST", json, `{"query": "x", "password": "hunter2-secret" `, "", 400, "BAD_USER_INPUT", ""},
		{"an empty body", "POST", json, ``, "", 400, "BAD_USER_INPUT", "empty"},
		{"a JSON string", "POST", json, `"{ version }"`, "", 400, "BAD_USER_INPUT", "JSON object"},
		{"a batch (JSON array)", "POST", json, `[{"query":"{ version }"},{"query":"{ version }"}]`, "", 400, "BAD_USER_INPUT", "Batched requests are not supported"},
		{"two objects", "POST", json, `{"query":"{ version }"} {"query":"{ version }"}`, "", 400, "BAD_USER_INPUT", "one JSON object"},
		{"query not a string", "POST", json, `{"query": 5}`, "", 400, "BAD_USER_INPUT", `"query" must be a string`},
		{"variables not an object", "POST", json, `{"query":"{ version }","variables":[1]}`, "", 400, "BAD_USER_INPUT", `"variables" must be an object`},
		{"JSON nested beyond the decoder's depth", "POST", json, `{"query":"{ version }","variables":{"a":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`, "", 400, "BAD_USER_INPUT", ""},
		{"text/plain", "POST", "text/plain", `{"query":"{ version }"}`, "", 415, "BAD_USER_INPUT", "application/json"},
		{"a form", "POST", "application/x-www-form-urlencoded", `query=%7Bversion%7D`, "", 415, "BAD_USER_INPUT", "application/json"},
		{"no content type", "POST", "", `{"query":"{ version }"}`, "", 415, "BAD_USER_INPUT", "application/json"},
		{"a charset other than UTF-8", "POST", "application/json; charset=latin1", `{"query":"{ version }"}`, "", 415, "BAD_USER_INPUT", "UTF-8"},
		{"invalid UTF-8 in the body", "POST", json, "{\"query\":\"{ version }\",\"variables\":{\"u\":\"\xff\xfe\"}}", "", 400, "BAD_USER_INPUT", "UTF-8"},
		{"PUT", "PUT", json, `{"query":"{ version }"}`, "", 405, "BAD_USER_INPUT", "POST"},
		{"DELETE", "DELETE", "", ``, "", 405, "BAD_USER_INPUT", "POST"},
		{"no query", "POST", json, `{}`, "", 422, "GRAPHQL_VALIDATION_FAILED", ""},
		{"a syntax error", "POST", json, `{"query":"{ version "}`, "", 422, "GRAPHQL_PARSE_FAILED", ""},
		{"an unknown operation name", "POST", json, `{"query":"query A { version }","operationName":"B"}`, "", 422, "GRAPHQL_VALIDATION_FAILED", "operation B not found"},
		{"two operations and no name", "POST", json, `{"query":"query A { version } query B { version }"}`, "", 422, "GRAPHQL_VALIDATION_FAILED", ""},
		{"a wrong variable type", "POST", json, body(loginQ, map[string]any{"u": true, "p": "x"}), "", 422, "GRAPHQL_VALIDATION_FAILED", ""},
		{"a missing variable", "POST", json, body(loginQ, map[string]any{"u": "x"}), "", 422, "GRAPHQL_VALIDATION_FAILED", ""},
		{"a variable of an object type", "POST", json, body(loginQ, map[string]any{"u": map[string]any{"a": 1}, "p": "x"}), "", 422, "GRAPHQL_VALIDATION_FAILED", ""},
		{"a huge username", "POST", json, body(loginQ, map[string]any{"u": strings.Repeat("u", 500_000), "p": "x"}), "", 200, "INVALID_CREDENTIALS", ""},
		{"a huge password", "POST", json, body(loginQ, map[string]any{"u": adminName, "p": strings.Repeat("p", 500_000)}), "", 200, "INVALID_CREDENTIALS", ""},
		{"a NUL in a username", "POST", json, body(loginQ, map[string]any{"u": "ad\x00min", "p": "x"}), "", 200, "INVALID_CREDENTIALS", ""},
		{"a huge session name", "POST", json, `{"query":"mutation { createSessionUsingUsername(input: {username: \"a\", password: \"b\", name: \"` + strings.Repeat("n", 200_000) + `\"}) { token } }"}`, "", 200, "BAD_USER_INPUT", ""},
		{"an ObjectID of garbage", "POST", json, body(keyQ, map[string]any{"id": "%%%"}), "", 200, "BAD_USER_INPUT", ""},
		{"an empty ObjectID", "POST", json, body(keyQ, map[string]any{"id": ""}), "", 200, "BAD_USER_INPUT", ""},
		{"an ObjectID of another type", "POST", json, body(keyQ, map[string]any{"id": "TjAwNFVzZXIx"}), "", 200, "BAD_USER_INPUT", ""},
		{"an ObjectID of zero", "POST", json, body(keyQ, map[string]any{"id": 0}), "", 200, "BAD_USER_INPUT", ""},
		{"an ObjectID too large", "POST", json, body(keyQ, map[string]any{"id": 1e300}), "", 200, "BAD_USER_INPUT", ""},
		{"an ObjectID with a fraction", "POST", json, body(keyQ, map[string]any{"id": 1.5}), "", 200, "BAD_USER_INPUT", ""},
		{"an ObjectID of a boolean", "POST", json, body(keyQ, map[string]any{"id": true}), "", 200, "BAD_USER_INPUT", ""},
		{"an ObjectID of an object", "POST", json, body(keyQ, map[string]any{"id": map[string]any{}}), "", 200, "BAD_USER_INPUT", ""},
		{"an ObjectID of invalid base64 padding", "POST", json, body(keyQ, map[string]any{"id": "TjAwN1VzZXJLZXkxMzA==="}), "", 200, "BAD_USER_INPUT", ""},
		{"an ObjectID literal of huge digits", "POST", json, `{"query":"mutation { deleteUserKey(input: {userKeyId: 99999999999999999999999999}) { userKey { id } } }"}`, admin, 422, "GRAPHQL_VALIDATION_FAILED", ""},
		{"a cursor of garbage", "POST", json, `{"query":"{ me { sessions(after: \"\\u0000\\u00ff\") { totalCount } } }"}`, admin, 200, "BAD_USER_INPUT", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := []string{}
			if tt.contentType != "" {
				h = append(h, "Content-Type", tt.contentType)
			}
			if tt.token != "" {
				h = append(h, "x-auth-token", tt.token)
			}
			r := srv.raw(t, tt.method, "/graphql", tt.body, h...)
			if r.Status != tt.wantStatus || r.code() != tt.wantCode {
				t.Fatalf("%d %s, want %d %s: %.300s", r.Status, r.code(), tt.wantStatus, tt.wantCode, r.Raw)
			}
			assertContractShape(t, r)
			if tt.wantInMessage != "" && !strings.Contains(r.Errors[0].Message, tt.wantInMessage) {
				t.Fatalf("message %q does not say %q", r.Errors[0].Message, tt.wantInMessage)
			}
			if strings.Contains(r.Raw, "hunter2-secret") || len(r.Raw) > 4096 {
				t.Fatalf("the answer echoes the request: %.300s", r.Raw)
			}
			if tt.method == "PUT" && r.Header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}

	gets := []struct {
		name, rawQuery string
		wantStatus     int
	}{
		{"a mutation over GET", "query=" + url.QueryEscape("mutation { deleteSession { id } }"), 405},
		{"invalid UTF-8 in the query string", "query=%7Bversion%7D&operationName=%ff", 400},
		{"variables that are not JSON", "query=" + url.QueryEscape("{ version }") + "&variables=%7Bnope", 400},
		{"variables that are a JSON array", "query=" + url.QueryEscape("{ version }") + "&variables=%5B1%5D", 400},
		{"a malformed query string", "query=%zz", 400},
		{"no query", "", 422},
		{"an unknown operation name", "query=" + url.QueryEscape("query A { version }") + "&operationName=B", 422},
	}
	for _, tt := range gets {
		t.Run("GET: "+tt.name, func(t *testing.T) {
			r := srv.raw(t, "GET", "/graphql?"+tt.rawQuery, "")
			if r.Status != tt.wantStatus {
				t.Fatalf("%d, want %d: %s", r.Status, tt.wantStatus, r.Raw)
			}
			assertContractShape(t, r)
		})
	}

	t.Run("an unknown path", func(t *testing.T) {
		r := srv.raw(t, "GET", "/nope", "")
		if r.Status != http.StatusNotFound || r.code() != "NOT_FOUND" {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	t.Run("the server still answers", func(t *testing.T) {
		if r := srv.post(t, admin, `{ me { username } }`, nil); r.str(t, "me.username") != adminName {
			t.Fatal(r.Raw)
		}
	})
	if strings.Contains(srv.logs.String(), "panic") {
		t.Fatalf("a panic was logged:\n%s", srv.logs)
	}
}

func jsonMarshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
