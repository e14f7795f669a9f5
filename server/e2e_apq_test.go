package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func sha256Hex(s string) string {
	b := sha256.Sum256([]byte(s))
	return hex.EncodeToString(b[:])
}

// postAPQ sends an APQ request: the hash, and the query too when query is not "".
func (s *testServer) postAPQ(t *testing.T, token, hash, query string) *gqlResponse {
	t.Helper()
	body := map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}}
	if query != "" {
		body["query"] = query
	}
	b, _ := json.Marshal(body)
	h := []string{"Content-Type", "application/json"}
	if token != "" {
		h = append(h, "x-auth-token", token)
	}
	return s.raw(t, http.MethodPost, "/graphql", string(b), h...)
}

// TestPersistedQueriesAcrossReplicas registers a query on one replica and runs it by hash
// alone on another sharing the same Redis, as Apollo Client's persisted query link does.
func TestPersistedQueriesAcrossReplicas(t *testing.T) {
	a, rs := startRedisServer(t, nil)
	b := startServer(t, map[string]string{"AUTHGRAPH_REDIS_URL": rs.URL, "AUTHGRAPH_REDIS_PREFIX": rs.Prefix})
	token := a.login(t, adminName, adminPass)
	q := "query Me { me { username } }"
	h := sha256Hex(q)

	r := b.postAPQ(t, token, h, "")
	if r.Status != http.StatusOK || r.code() != "PERSISTED_QUERY_NOT_FOUND" || r.Errors[0].Message != "PersistedQueryNotFound" {
		t.Fatalf("unknown hash: %d %s", r.Status, r.Raw)
	}
	if r := a.postAPQ(t, token, h, q); r.str(t, "me.username") != adminName {
		t.Fatalf("register: %s", r.Raw)
	}
	if r := b.postAPQ(t, token, h, ""); r.str(t, "me.username") != adminName {
		t.Fatalf("by hash on the other replica: %s", r.Raw)
	}
	// GET works too, so a CDN may cache public queries by URL.
	v := sha256Hex("{ version }")
	a.postAPQ(t, "", v, "{ version }")
	ext := `{"persistedQuery":{"version":1,"sha256Hash":"` + v + `"}}`
	g := b.raw(t, http.MethodGet, "/graphql?extensions="+url.QueryEscape(ext), "")
	if g.str(t, "version") == "" {
		t.Fatalf("GET by hash: %s", g.Raw)
	}
	if !strings.Contains(b.scrape(t), `authgraph_apq_lookups_total{result="hit"} 2`) {
		t.Error("APQ hits are not counted")
	}
}

// TestPersistedQueriesKeepOnlyValidQueries: a query that does not validate is answered with
// its error and not kept, and a hash that does not match the query is refused.
func TestPersistedQueriesKeepOnlyValidQueries(t *testing.T) {
	srv, rs := startRedisServer(t, nil)
	junk := "{ this is not a valid operation }"
	if r := srv.postAPQ(t, "", sha256Hex(junk), junk); r.code() == "" {
		t.Fatalf("junk ran: %s", r.Raw)
	}
	if r := srv.postAPQ(t, "", sha256Hex(junk), ""); r.code() != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("junk was kept: %s", r.Raw)
	}
	if n := len(rs.Client.Keys(t.Context(), rs.Prefix+"apq:*").Val()); n != 0 {
		t.Fatalf("%d persisted queries in Redis, want 0", n)
	}
	if r := srv.postAPQ(t, "", sha256Hex("{ me { id } }"), "{ version }"); !strings.Contains(r.Raw, "provided APQ hash does not match query") {
		t.Fatalf("mismatched hash: %s", r.Raw)
	}
}

func TestPersistedQueriesEmbeddedStore(t *testing.T) {
	srv := startServer(t, nil)
	q := "{ version }"
	if r := srv.postAPQ(t, "", sha256Hex(q), q); r.str(t, "version") == "" {
		t.Fatal(r.Raw)
	}
	if r := srv.postAPQ(t, "", sha256Hex(q), ""); r.str(t, "version") == "" {
		t.Fatal(r.Raw)
	}
}

func TestCORS(t *testing.T) {
	preflight := func(t *testing.T, srv *testServer, origin string) *gqlResponse {
		return srv.raw(t, http.MethodOptions, "/graphql", "", "Origin", origin, "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "content-type,apollographql-client-name,apollographql-client-version,x-auth-token")
	}
	t.Run("any origin by default", func(t *testing.T) {
		srv := startServer(t, nil)
		r := preflight(t, srv, "https://anywhere.example")
		if r.Status != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != "*" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("%d %v", r.Status, r.Header)
		}
		allow := strings.ToLower(r.Header.Get("Access-Control-Allow-Headers"))
		for _, h := range []string{"apollographql-client-name", "apollographql-client-version", "x-auth-token", "authorization", "content-type", "apollo-require-preflight"} {
			if !strings.Contains(allow, h) {
				t.Errorf("%s is not allowed: %s", h, allow)
			}
		}
	})
	t.Run("a list of origins", func(t *testing.T) {
		srv := startServer(t, map[string]string{"AUTHGRAPH_CORS_ORIGINS": "https://app.example, http://localhost:3000"})
		r := preflight(t, srv, "http://localhost:3000")
		if r.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("listed origin: %v", r.Header)
		}
		r = preflight(t, srv, "https://evil.example")
		if r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Headers") != "" {
			t.Fatalf("unlisted origin got CORS headers: %v", r.Header)
		}
		p := srv.raw(t, http.MethodPost, "/graphql", `{"query":"{ version }"}`, "Content-Type", "application/json", "Origin", "https://app.example")
		if p.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(p.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
			t.Fatalf("POST: %v", p.Header)
		}
	})
	t.Run("a malformed origin is refused at start", func(t *testing.T) {
		if _, err := loadConfig(nil, func(k string) string {
			if k == "AUTHGRAPH_CORS_ORIGINS" {
				return "app.example/path"
			}
			return ""
		}, nil); err == nil {
			t.Fatal("want an error")
		}
	})
}
