package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/hashpool"
	"github.com/authgraph/authgraph/internal/memstore"
)

// fuzzHandler is the whole HTTP handler on the embedded store, with a user "admin" and
// cheap argon2 parameters, built once per fuzzing process.
var fuzzHandler = sync.OnceValues(func() (http.Handler, error) {
	cfg := testConfig()
	cfg.MaxBodyBytes = 64 << 10
	h, err := argon2id.New(argon2id.Params{Memory: 8, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		return nil, err
	}
	pool := hashpool.New(h, 0, -1)
	svc := auth.NewService(memstore.New(clock.Real{}), pool, clock.Real{}, auth.Config{})
	if _, err := svc.EnsureUser(context.Background(), "admin", "admin-password", auth.RoleAdmin); err != nil {
		return nil, err
	}
	// Metrics, persisted queries and (off) tracing as in production.
	return New(testDeps(cfg, svc, pool)), nil
})

var fuzzMethods = []string{http.MethodPost, http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch, "BREW"}

// FuzzHandler sends arbitrary requests to /graphql: any method, content type, query string
// and body. Whatever they hold, the answer is never a 5xx (nor a panic), and every error
// answer, and every error in a GraphQL answer, is in the contract's shape.
func FuzzHandler(f *testing.F) {
	seeds := []struct {
		method      uint8
		contentType string
		query       string
		body        string
	}{
		{0, "application/json", "", `{"query":"{ version }"}`},
		{0, "application/json", "", `{"query":"mutation($u: String!, $p: String!) { createSessionUsingUsername(input: {username: $u, password: $p}) { token } }","variables":{"u":"admin","p":"wrong"}}`},
		{0, "application/json", "", `{"query":"mutation { createSessionUsingUserKey(input: {userKeyId: \"TjAwN1VzZXJLZXkxMzA\", secret: \"x\"}) { token } }"}`},
		{0, "application/json", "", `{"query":"query A { version } query B { me { id } }","operationName":"C"}`},
		{0, "application/json", "", `[{"query":"{ version }"},{"query":"{ version }"}]`},
		{0, "application/json", "", `{"query":"{ __schema { types { name } } }"}`},
		{0, "application/json", "", `{"query":"{ me { sessions(first: 1000) { nodes { id } } } }"}`},
		{0, "application/json", "", `{"query":"{ ...F } fragment F on Query { ...F }"}`},
		{0, "application/json", "", `{"query": 1, "variables": "x"}`},
		{0, "application/json", "", "{\"query\":\"{ version }\",\"variables\":{\"a\":\"\xff\"}}"},
		{0, "application/json; charset=utf-16", "", `{"query":"{ version }"}`},
		{0, "text/plain", "", `{"query":"{ version }"}`},
		{0, "", "", ``},
		{1, "", "query=%7B+version+%7D", ``},
		{1, "", "query=mutation+%7B+deleteSession+%7B+id+%7D+%7D", ``},
		{1, "", "query=%7Bversion%7D&variables=%5B%5D&operationName=%ff", ``},
		{2, "application/json", "", `{"query":"{ version }"}`},
		{5, "application/json", "", `{}`},
	}
	for _, s := range seeds {
		f.Add(s.method, s.contentType, s.query, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method uint8, contentType, rawQuery string, body []byte) {
		h, err := fuzzHandler()
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(fuzzMethods[int(method)%len(fuzzMethods)], "/graphql", bytes.NewReader(body))
		req.URL.RawQuery = rawQuery // as is: malformed escapes, invalid UTF-8 and all
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkFuzzAnswer(t, rec)
	})
}

func checkFuzzAnswer(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var resp struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message    *string        `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("status %d, body not JSON: %q", rec.Code, rec.Body)
	}
	if rec.Code != http.StatusOK && len(resp.Errors) == 0 {
		t.Fatalf("status %d without errors: %s", rec.Code, rec.Body)
	}
	for _, e := range resp.Errors {
		if c, _ := e.Extensions["code"].(string); e.Message == nil || *e.Message == "" || c == "" {
			t.Fatalf("status %d, an error not in the contract's shape: %s", rec.Code, rec.Body)
		}
		if c, _ := e.Extensions["code"].(string); c == string(auth.CodeInternal) {
			t.Fatalf("an internal error: %s", rec.Body)
		}
	}
}
