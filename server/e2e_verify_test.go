package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authgraph/authgraph/verify"
)

// The product server of docs/verify.md, as the page shows it (TestVerifyDocShowsTheExample
// keeps the two equal).
func productHandler(v *verify.Verifier) http.Handler {
	mux := http.NewServeMux()
	// Public: anyone, signed in or not.
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		p, ok := verify.FromContext(r.Context())
		if !ok {
			json.NewEncoder(w).Encode(map[string]any{"hello": "stranger"})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"hello": p.Username})
	})
	// Signed in, with the read scope.
	mux.Handle("GET /orders", verify.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := verify.FromContext(r.Context())
		if !p.HasScope("read") {
			http.Error(w, `{"errors":[{"message":"needs read","extensions":{"code":"FORBIDDEN"}}]}`, http.StatusForbidden)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"user": p.UserGID, "account": p.AccountGID, "orders": []string{}})
	})))
	return v.Middleware(mux)
}

// TestVerifyDocShowsTheExample: docs/verify.md shows productHandler exactly as it is here.
func TestVerifyDocShowsTheExample(t *testing.T) {
	src, err := os.ReadFile("e2e_verify_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fn := func(text string) string {
		i := strings.Index(text, "func productHandler(")
		if i < 0 {
			return ""
		}
		return text[i : i+strings.Index(text[i:], "\n}\n")+3]
	}
	if got, want := fn(readDoc(t, "docs/verify.md")), fn(string(src)); got == "" || got != want {
		t.Errorf("docs/verify.md shows another productHandler than server/e2e_verify_test.go runs:\n%s", got)
	}
}

// TestVerifyAgainstAuthgraph runs the product of docs/verify.md, over a real listener, beside
// a real authgraph on the same Redis: a token from authgraph's sign-in opens the product, a
// key's token without read does not, and signing out in authgraph closes it within
// milliseconds, through the invalidation channel.
func TestVerifyAgainstAuthgraph(t *testing.T) {
	srv, rs := startRedisServer(t, nil)
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "buyer", "buyer-password-1")
	tok := srv.login(t, "buyer", "buyer-password-1")

	v, err := verify.New(rs.Client, verify.Options{Prefix: rs.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := v.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	product := httptest.NewServer(productHandler(v))
	defer product.Close()

	get := func(path, tok string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, product.URL+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	if status, m := get("/hello", ""); status != 200 || m["hello"] != "stranger" {
		t.Errorf("/hello anonymous: %d %v", status, m)
	}
	if status, m := get("/hello", tok); status != 200 || m["hello"] != "buyer" {
		t.Errorf("/hello signed in: %d %v", status, m)
	}
	userID := srv.post(t, tok, `{ me { id account { id } } }`, nil)
	if status, m := get("/orders", tok); status != 200 || m["user"] != userID.str(t, "me.id") || m["account"] != userID.str(t, "me.account.id") {
		t.Errorf("/orders signed in: %d %v (authgraph says %s)", status, m, userID.Raw)
	}
	if status, _ := get("/orders", ""); status != 401 {
		t.Errorf("/orders anonymous: %d", status)
	}
	// A key that holds only keys:write may not read orders.
	key := srv.createKey(t, tok, []string{"keys:write"})
	keyTok := srv.keyLogin(t, key.id, key.secret)
	if status, _ := get("/orders", keyTok); status != 403 {
		t.Errorf("/orders with a keys:write key: %d", status)
	}

	if r := srv.post(t, tok, `mutation { deleteSession { id } }`, nil); r.code() != "" {
		t.Fatal(r.Raw)
	}
	start := time.Now()
	for {
		status, _ := get("/orders", tok)
		if status == 401 {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("the product still accepts the token a second after authgraph ended it (%d)", status)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("the product refused the ended session %v after authgraph answered deleteSession", time.Since(start))
}
