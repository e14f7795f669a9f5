package main

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// With every hashing worker busy and the queue full, a login is answered 503
// SERVICE_UNAVAILABLE at once (with Retry-After), never a 500 or a 401, for unknown and known
// usernames alike; authenticated requests, which hash nothing, keep being answered.
func TestHashingQueueFullIs503(t *testing.T) {
	srv := startServer(t, map[string]string{
		"AUTHGRAPH_HASH_WORKERS": "1", "AUTHGRAPH_HASH_QUEUE": "0", "AUTHGRAPH_RATE_LIMITS": "off",
		"AUTHGRAPH_ARGON2_TIME": "8", // slower hashes, so that logins overlap
	})
	admin := srv.login(t, adminName, adminPass)

	var mu sync.Mutex
	seen := map[string]int{}
	for round := 0; round < 20 && seen["503 SERVICE_UNAVAILABLE"] == 0; round++ {
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				user := adminName
				if i%2 == 1 {
					user = fmt.Sprint("nobody-", i)
				}
				r := srv.post(t, "", loginMutation, map[string]any{"u": user, "p": "wrong"})
				key := fmt.Sprint(r.Status, " ", r.code())
				if r.Status == http.StatusServiceUnavailable {
					if r.Header.Get("Retry-After") == "" {
						t.Errorf("503 without Retry-After")
					}
					assertContractShape(t, r)
				}
				mu.Lock()
				seen[key]++
				mu.Unlock()
			}()
		}
		// Authenticated traffic beside the storm.
		for range 4 {
			if r := srv.post(t, admin, `{ me { id } }`, nil); r.Status != http.StatusOK || r.code() != "" {
				t.Errorf("authenticated request during the storm: %d %s", r.Status, r.Raw)
			}
		}
		wg.Wait()
	}
	for k := range seen {
		if k != "200 INVALID_CREDENTIALS" && k != "503 SERVICE_UNAVAILABLE" {
			t.Fatalf("unexpected answers: %v", seen)
		}
	}
	if seen["503 SERVICE_UNAVAILABLE"] == 0 {
		t.Fatalf("the queue never filled: %v", seen)
	}
	t.Logf("answers: %v", seen)
}
