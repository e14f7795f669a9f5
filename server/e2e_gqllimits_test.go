package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// introspectionQuery is graphql-js's getIntrospectionQuery(), what GraphiQL and the
// playground send: the default limits must let it through.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType {
  kind name ofType { kind name ofType { kind name } } } } } } }
}`

func TestGraphQLLimits(t *testing.T) {
	srv := startServer(t, map[string]string{
		"AUTHGRAPH_MAX_DEPTH": "4", "AUTHGRAPH_MAX_FIELDS": "12", "AUTHGRAPH_MAX_ALIASES": "3",
		"AUTHGRAPH_MAX_COMPLEXITY": "50", "AUTHGRAPH_MAX_TOKENS": "400",
	})
	admin := srv.login(t, adminName, adminPass)
	aliases := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, " v%d: version", i)
		}
		return b.String() + " }"
	}
	tests := []struct {
		name, query   string
		wantStatus    int
		wantCode      string
		wantInMessage string
	}{
		{"depth at the limit", `{ me { sessions(first: 5) { nodes { id } } } }`, 200, "", ""},
		{"depth over the limit", `{ me { sessions { nodes { userKey { id } } } } }`, 422, "GRAPHQL_VALIDATION_FAILED", "nested 5 levels deep; the limit is 4"},
		{"depth hidden in fragments", `{ me { ...S } } fragment S on User { sessions { ...N } } fragment N on SessionConnection { nodes { userKey { id } } }`, 422, "GRAPHQL_VALIDATION_FAILED", "nested 5 levels"},
		{"depth hidden in an inline fragment", `{ me { ... on User { sessions { nodes { userKey { id } } } } } }`, 422, "GRAPHQL_VALIDATION_FAILED", "nested 5 levels"},
		{"aliases at the limit", aliases(3), 200, "", ""},
		{"aliases over the limit", aliases(4), 422, "GRAPHQL_VALIDATION_FAILED", "4 aliased fields; the limit is 3"},
		{"fields over the limit", `{ me { id rawID username role createdAt sessions { totalCount nodes { id name ip clientName } } } }`, 422, "GRAPHQL_VALIDATION_FAILED", "selects 13 fields; the limit is 12"},
		{"fields counted through every spread", `{ me { ...U ...U } } fragment U on User { id rawID username role createdAt sessions { totalCount } }`, 422, "GRAPHQL_VALIDATION_FAILED", "selects 15 fields"},
		{"complexity under the limit", `{ me { sessions(first: 10) { nodes { id } } } }`, 200, "", ""},
		{"complexity over the limit: a page costs its size", `{ me { sessions(first: 100) { nodes { id } } } }`, 422, "COMPLEXITY_LIMIT_EXCEEDED", "exceeds the limit of 50"},
		{"complexity of the default page", `{ me { userKeys { totalCount } } }`, 422, "COMPLEXITY_LIMIT_EXCEEDED", "exceeds the limit of 50"},
		{"tokens over the limit", `{ ` + strings.Repeat("__typename ", 500) + `}`, 422, "GRAPHQL_PARSE_FAILED", "token limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := srv.post(t, admin, tt.query, nil)
			if r.Status != tt.wantStatus || r.code() != tt.wantCode {
				t.Fatalf("%d %q, want %d %q: %s", r.Status, r.code(), tt.wantStatus, tt.wantCode, r.Raw)
			}
			if tt.wantCode != "" {
				assertContractShape(t, r)
				if !strings.Contains(r.Errors[0].Message, tt.wantInMessage) {
					t.Fatalf("message %q does not say %q", r.Errors[0].Message, tt.wantInMessage)
				}
			}
		})
	}
}

// Fragments that spread each other twice over, forty levels down, select 2^40 fields: they
// are measured once each and refused, with the count saturated, not expanded.
func TestFragmentBombIsRefused(t *testing.T) {
	srv := startServer(t, nil)
	var b strings.Builder
	b.WriteString("{ ...F40 }\nfragment F0 on Query { version }\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", i, i-1, i-1)
	}
	r := srv.post(t, "", b.String(), nil)
	if r.Status != http.StatusUnprocessableEntity || r.code() != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(r.Raw, "more than a trillion") {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
}

// With the default limits, a full page (what the CLI and the account page ask for) is
// answered, and a page nested in a page (1000 users' 1000 sessions each) is refused before
// anything runs.
func TestDefaultComplexityLimit(t *testing.T) {
	srv := startServer(t, nil)
	admin := srv.login(t, adminName, adminPass)
	full := `{ me { sessions(first: 1000) { nodes { id name method clientName clientVersion ip userAgent createdAt lastUsedAt expiresAt current } pageInfo { hasNextPage endCursor } }
	  userKeys(first: 1000) { nodes { id name createdAt lastUsedAt expiresAt } } } }`
	if r := srv.post(t, admin, full, nil); r.Status != http.StatusOK || r.code() != "" {
		t.Fatalf("a full page of sessions and of keys: %d %s", r.Status, r.Raw)
	}
	nested := `{ users(first: 1000) { nodes { sessions(first: 1000) { nodes { id } } } } }`
	if r := srv.post(t, admin, nested, nil); r.Status != http.StatusUnprocessableEntity || r.code() != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Fatalf("a page of pages: %d %s", r.Status, r.Raw)
	}
}

func TestIntrospectionSwitch(t *testing.T) {
	tests := []struct {
		name          string
		env           map[string]string
		introspection bool
		playground    bool
	}{
		{"on by default", nil, true, true},
		{"off in production", map[string]string{"AUTHGRAPH_ENV": "production"}, false, false},
		{"off when asked", map[string]string{"AUTHGRAPH_INTROSPECTION": "false"}, false, true},
		{"on in production when asked", map[string]string{"AUTHGRAPH_ENV": "production", "AUTHGRAPH_INTROSPECTION": "true", "AUTHGRAPH_PLAYGROUND": "true"}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, tt.env)
			r := srv.post(t, "", introspectionQuery, nil)
			if tt.introspection {
				if r.Status != 200 || r.code() != "" || !strings.Contains(r.Raw, `"createSessionUsingUsername"`) {
					t.Fatalf("the standard introspection query: %d %.300s", r.Status, r.Raw)
				}
			} else {
				if r.Status != http.StatusUnprocessableEntity || r.code() != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(r.Raw, "Introspection is disabled") {
					t.Fatalf("introspection while off: %d %s", r.Status, r.Raw)
				}
				if r := srv.post(t, "", `{ __type(name: "User") { name } }`, nil); r.code() != "GRAPHQL_VALIDATION_FAILED" {
					t.Fatalf("__type while off: %d %s", r.Status, r.Raw)
				}
			}
			if r := srv.post(t, "", `{ __typename version }`, nil); r.Status != 200 || r.code() != "" {
				t.Fatalf("__typename must always work: %d %s", r.Status, r.Raw)
			}
			if r := srv.raw(t, "GET", "/", ""); (r.Status == 200) != tt.playground {
				t.Fatalf("playground: %d, want served=%v", r.Status, tt.playground)
			}
		})
	}
}

// Headers over http.Server's MaxHeaderBytes (32 KiB) are refused with 431 before any
// handler runs; net/http writes that answer itself, as plain text.
func TestHeadersTooLargeAre431(t *testing.T) {
	srv := startServer(t, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Pad: %s\r\nContent-Length: 2\r\n\r\n{}", strings.Repeat("p", 64<<10))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
	// Headers under the limit are fine.
	r := srv.raw(t, "POST", "/graphql", `{"query":"{ version }"}`, "Content-Type", "application/json", "X-Pad", strings.Repeat("p", 16<<10))
	if r.Status != 200 {
		t.Fatalf("a 16 KiB header: %d", r.Status)
	}
}
