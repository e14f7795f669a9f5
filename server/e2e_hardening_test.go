package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// rawHeader sends a request whose headers may repeat (raw sets each name once).
func (s *testServer) rawHeader(t *testing.T, method, path, body string, h http.Header) *gqlResponse {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
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

// Validation errors suggest names near a misspelt one ("Did you mean …"), which, asked often
// enough, spells out the schema: so they do only where introspection is on.
func TestSuggestionsOnlyWithIntrospection(t *testing.T) {
	mistakes := []struct {
		name, query, suggested string
	}{
		{"a field", `{ verson }`, `"version"`},
		{"an argument", `mutation { createSessionUsingUsername(inpt: {username: "a", password: "b"}) { token } }`, `"input"`},
		{"an input field", `mutation { createSessionUsingUsername(input: {username: "a", pasword: "b"}) { token } }`, `"password"`},
		{"an enum value", `mutation { createSessionUsingUsername(input: {username: "a", password: "b", mode: COOKEI}) { token } }`, `"COOKIE"`},
		{"a type", `{ ...F } fragment F on Quer { version }`, `"Query"`},
		{"a selection", `mutation { createSessionUsingUsername(input: {username: "a", password: "b"}) }`, `"createSessionUsingUsername { ... }"`},
	}
	for _, env := range []struct {
		name    string
		vars    map[string]string
		suggest bool
	}{
		{"development", nil, true},
		{"production", map[string]string{"AUTHGRAPH_ENV": "production"}, false},
		{"introspection turned off", map[string]string{"AUTHGRAPH_INTROSPECTION": "false"}, false},
		{"production with introspection turned on", map[string]string{"AUTHGRAPH_ENV": "production", "AUTHGRAPH_INTROSPECTION": "true"}, true},
	} {
		t.Run(env.name, func(t *testing.T) {
			srv := startServer(t, env.vars)
			for _, m := range mistakes {
				r := srv.post(t, "", m.query, nil)
				if r.Status != http.StatusUnprocessableEntity || r.code() != "GRAPHQL_VALIDATION_FAILED" {
					t.Fatalf("%s: %d %s", m.name, r.Status, r.Raw)
				}
				suggests := strings.Contains(r.Raw, "Did you mean") || strings.Contains(r.Raw, m.suggested)
				if suggests != env.suggest {
					t.Errorf("%s: suggestion given: %v, want %v: %s", m.name, suggests, env.suggest, r.Raw)
				}
			}
		})
	}
}

// GraphQL over HTTP: a mutation over GET is 405 with Allow: POST, and does not run.
func TestMutationOverGETIs405(t *testing.T) {
	srv := startServer(t, nil)
	tok := srv.login(t, adminName, adminPass)
	const both = `query Q { version } mutation M { deleteSession { id } }`
	for _, tt := range []struct {
		name, query, opName string
	}{
		{"an anonymous mutation", `mutation { deleteSession { id } }`, ""},
		{"a named mutation", `mutation Logout { deleteSession { id } }`, "Logout"},
		{"the mutation of a document that holds a query too", both, "M"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{"query": {tt.query}}
			if tt.opName != "" {
				q.Set("operationName", tt.opName)
			}
			r := srv.raw(t, http.MethodGet, "/graphql?"+q.Encode(), "", "x-auth-token", tok)
			if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "POST" {
				t.Fatalf("%d, Allow %q: %s", r.Status, r.Header.Get("Allow"), r.Raw)
			}
			assertContractShape(t, r)
			if r.code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "POST") || r.Data != nil {
				t.Fatalf("%s", r.Raw)
			}
			if me := srv.post(t, tok, `{ me { username } }`, nil); me.Status != http.StatusOK || me.str(t, "me.username") != adminName {
				t.Fatalf("the mutation ran: the session is gone: %d %s", me.Status, me.Raw)
			}
		})
	}
	t.Run("the query of that document runs", func(t *testing.T) {
		r := srv.raw(t, http.MethodGet, "/graphql?"+url.Values{"query": {both}, "operationName": {"Q"}}.Encode(), "")
		if r.Status != http.StatusOK || r.str(t, "version") == "" {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	t.Run("POST runs the mutation", func(t *testing.T) {
		if r := srv.post(t, tok, `mutation { deleteSession { id } }`, nil); r.Status != http.StatusOK || r.code() != "" {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
}

// A credential that comes twice in one place is refused with 400, equal or not: the server
// does not pick one and ignore the other. The refusal ends nothing: the token still works.
func TestRepeatedCredentialIs400(t *testing.T) {
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_ALLOW_QUERY_TOKEN": "true"})
	a := srv.login(t, adminName, adminPass)
	b := srv.login(t, adminName, adminPass)
	const me = `{"query":"{ me { username } }"}`
	hdr := func(kv ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	for _, tt := range []struct {
		name, target string
		h            http.Header
		repeated     string // "" when the request is fine
	}{
		{"two x-auth-token headers", "/graphql", hdr("x-auth-token", a, "x-auth-token", b), "x-auth-token headers"},
		{"two equal x-auth-token headers", "/graphql", hdr("x-auth-token", a, "x-auth-token", a), "x-auth-token headers"},
		{"an empty x-auth-token header beside one", "/graphql", hdr("x-auth-token", "", "x-auth-token", a), "x-auth-token headers"},
		{"two Authorization headers", "/graphql", hdr("Authorization", "Bearer "+a, "Authorization", "Bearer "+b), "Authorization headers"},
		{"two equal Authorization headers", "/graphql", hdr("Authorization", "Bearer "+a, "Authorization", "Bearer "+a), "Authorization headers"},
		{"two equal session cookies", "/graphql", hdr("Cookie", "authgraph_session="+a+"; authgraph_session="+a), "authgraph_session cookies"},
		{"two Cookie headers with the session cookie", "/graphql", hdr("Cookie", "authgraph_session="+a, "Cookie", "authgraph_session="+a), "authgraph_session cookies"},
		{"two refresh cookies", "/graphql", hdr("Cookie", "authgraph_refresh=agr_x; authgraph_refresh=agr_x", "x-auth-token", a), "authgraph_refresh cookies"},
		{"two equal access_token parameters", "/graphql?access_token=" + a + "&access_token=" + a, hdr(), "access_token parameters"},
		{"x-auth-token once", "/graphql", hdr("x-auth-token", a), ""},
		{"Authorization once", "/graphql", hdr("Authorization", "Bearer "+a), ""},
		{"the session cookie once", "/graphql", hdr("Cookie", "authgraph_session="+a+"; other=1"), ""},
		{"the session and the refresh cookie once each", "/graphql", hdr("Cookie", "authgraph_session="+a+"; authgraph_refresh=agr_x"), ""},
		{"the same token in x-auth-token and Authorization", "/graphql", hdr("x-auth-token", a, "Authorization", "Bearer "+a), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := srv.rawHeader(t, http.MethodPost, tt.target, me, tt.h)
			if tt.repeated == "" {
				if r.Status != http.StatusOK || r.str(t, "me.username") != adminName {
					t.Fatalf("%d %s", r.Status, r.Raw)
				}
				return
			}
			if r.Status != http.StatusBadRequest || r.code() != "BAD_USER_INPUT" {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			assertContractShape(t, r)
			if msg := r.Errors[0].Message; !strings.Contains(msg, "two "+tt.repeated) {
				t.Fatalf("the message does not say what came twice: %q", msg)
			}
			assertNoSecretIn(t, "the answer", r.Raw, []string{a, b})
		})
	}
	for _, tok := range []string{a, b} {
		if r := srv.post(t, tok, `{ me { username } }`, nil); r.str(t, "me.username") != adminName {
			t.Fatalf("a refused request ended a session: %s", r.Raw)
		}
	}
}

// Answers that may be someone's are never stored by a cache, every GraphQL answer names the
// token transports in Vary, and every answer of every route tells browsers not to sniff.
func TestCacheAndSniffHeaders(t *testing.T) {
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_ALLOW_QUERY_TOKEN": "true", "AUTHGRAPH_MAX_BODY_BYTES": "4096"})
	tok := srv.login(t, adminName, adminPass)
	me := "/graphql?" + url.Values{"query": {"{ me { username } }"}}.Encode()
	version := "/graphql?" + url.Values{"query": {"{ version }"}}.Encode()
	ct := []string{"Content-Type", "application/json"}
	sign := `{"query":"mutation { createSessionUsingUsername(input: {username: \"` + adminName + `\", password: \"` + adminPass + `\"}) { token } }"}`
	for _, tt := range []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		noStore                  bool
	}{
		{"a sign-in, which answers a token", "POST", "/graphql", sign, ct, 200, true},
		{"a POST with a token", "POST", "/graphql", `{"query":"{ me { username } }"}`, append([]string{"x-auth-token", tok}, ct...), 200, true},
		{"a GET with x-auth-token", "GET", me, "", []string{"x-auth-token", tok}, 200, true},
		{"a GET with Authorization", "GET", me, "", []string{"Authorization", "Bearer " + tok}, 200, true},
		{"a GET with the session cookie", "GET", me, "", []string{"Cookie", "authgraph_session=" + tok, "X-Requested-With", "x"}, 200, true},
		{"a GET with a cookie it ignores", "GET", version, "", []string{"Cookie", "authgraph_session=" + tok}, 200, true},
		{"a GET with ?access_token=", "GET", me + "&access_token=" + tok, "", nil, 200, true},
		{"a GET with a dead token", "GET", me, "", []string{"x-auth-token", "ags_dead"}, 401, true},
		{"an anonymous POST", "POST", "/graphql", `{"query":"{ version }"}`, ct, 200, true},
		{"an anonymous GET", "GET", version, "", nil, 200, false},
		{"a mutation over GET", "GET", "/graphql?" + url.Values{"query": {"mutation { deleteSession { id } }"}}.Encode(), "", nil, 405, true},
		{"a body over the limit", "POST", "/graphql", `{"query":"` + strings.Repeat(" ", 5000) + `{ version }"}`, ct, 413, true},
		{"a CORS preflight", "OPTIONS", "/graphql", "", []string{"Origin", "https://app.example", "Access-Control-Request-Method", "POST"}, 204, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := srv.raw(t, tt.method, tt.path, tt.body, tt.headers...)
			if r.Status != tt.status {
				t.Fatalf("%d, want %d: %s", r.Status, tt.status, r.Raw)
			}
			if got := r.Header.Get("Cache-Control") == "no-store"; got != tt.noStore {
				t.Errorf("Cache-Control %q, want no-store: %v", r.Header.Get("Cache-Control"), tt.noStore)
			}
			vary := strings.ToLower(strings.Join(r.Header.Values("Vary"), ","))
			for _, h := range []string{"x-auth-token", "authorization", "cookie"} {
				if !strings.Contains(vary, h) {
					t.Errorf("Vary %q lacks %s", vary, h)
				}
			}
			if r.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("no X-Content-Type-Options: nosniff: %v", r.Header)
			}
		})
	}
	for _, path := range []string{"/", "/healthz", "/readyz", "/account", "/account/account.js", "/nope"} {
		for _, method := range []string{"GET", "PUT"} {
			if r := srv.raw(t, method, path, ""); r.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s %s: %d without X-Content-Type-Options: nosniff", method, path, r.Status)
			}
		}
	}
}

// In production the COOKIE mode cookies are Secure and __Host- named without being asked
// (TLS ends in front); an operator who turns that off explicitly gets plain cookies and a
// warning in the log.
func TestProductionCookiesAreSecure(t *testing.T) {
	const warning = "AUTHGRAPH_COOKIE_SECURE=false in production"
	signIn := `mutation { createSessionUsingUsername(input: {username: "` + adminName + `", password: "` + adminPass + `", mode: COOKIE}) { token } }`
	for _, tt := range []struct {
		name   string
		env    map[string]string
		cookie string
		secure bool
		warns  bool
	}{
		{"production", map[string]string{"AUTHGRAPH_ENV": "production"}, "__Host-authgraph_session", true, false},
		{"production, turned off", map[string]string{"AUTHGRAPH_ENV": "production", "AUTHGRAPH_COOKIE_SECURE": "false"}, "authgraph_session", false, true},
		{"development", nil, "authgraph_session", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := startRedisServer(t, tt.env)
			r := srv.post(t, "", signIn, nil)
			tok := wantTokenCookie(t, r, tt.cookie, thirtyDays, tt.secure)
			other := map[bool]string{true: "authgraph_session", false: "__Host-authgraph_session"}[tt.secure]
			if c, _ := setCookie(t, r, other); c != nil {
				t.Fatalf("%s was set too", other)
			}
			if me := srv.postCookie(t, tt.cookie+"="+tok, `{ me { username } }`, nil); me.str(t, "me.username") != adminName {
				t.Fatalf("%s: %s", tt.cookie, me.Raw)
			}
			if me := srv.postCookie(t, other+"="+tok, `{ me { username } }`, nil); me.code() != "UNAUTHENTICATED" {
				t.Fatalf("%s was read: %s", other, me.Raw)
			}
			if warned := strings.Contains(srv.logs.String(), warning); warned != tt.warns {
				t.Fatalf("warning logged: %v, want %v", warned, tt.warns)
			}
		})
	}
}
