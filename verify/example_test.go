package verify_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/verify"
)

// A product's handler behind the verifier: /orders needs a session holding read; every other
// path is open, and sees the principal when there is one. docs/verify.md has a whole server,
// which server/e2e_verify_test.go runs against a real authgraph.
func ExampleVerifier_Middleware() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", Username: "product-verifier", Password: "…"})
	v, err := verify.New(rdb, verify.Options{Prefix: "ag:"})
	if err != nil {
		panic(err)
	}
	defer v.Close()
	mux := http.NewServeMux()
	mux.Handle("/orders", verify.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := verify.FromContext(r.Context())
		if !p.HasScope("read") {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "orders of %s in account %s\n", p.UserGID, p.AccountGID)
	})))
	_ = http.ListenAndServe(":8081", v.Middleware(mux))
}

// Verify alone, for a transport that is not HTTP (a queue message carrying a token).
func ExampleVerifier_Verify() {
	var v *verify.Verifier // from verify.New
	handle := func(ctx context.Context, tok string) error {
		p, err := v.Verify(ctx, tok)
		if err != nil {
			return err // ErrUnauthenticated, ErrUnavailable (retry) or ErrUnsupportedRecord
		}
		fmt.Println("message from", p.Username)
		return nil
	}
	_ = handle
}
