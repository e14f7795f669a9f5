package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/redistest"
)

// startReplicas starts n servers on one Redis (same prefix: one deployment), and a
// round-robin reverse proxy in front of them: n replicas behind one address.
func startReplicas(t *testing.T, n int, env map[string]string) (lb *testServer, replicas []*testServer, rs *redistest.Server) {
	t.Helper()
	first, rs := startRedisServer(t, env)
	replicas = []*testServer{first}
	vars := map[string]string{"AUTHGRAPH_REDIS_URL": rs.URL, "AUTHGRAPH_REDIS_PREFIX": rs.Prefix, "AUTHGRAPH_REDIS_TIMEOUT": "500ms"}
	for k, v := range env {
		vars[k] = v
	}
	for range n - 1 {
		replicas = append(replicas, startServer(t, vars))
	}
	targets := make([]*url.URL, len(replicas))
	for i, r := range replicas {
		u, err := url.Parse(r.URL)
		if err != nil {
			t.Fatal(err)
		}
		targets[i] = u
	}
	var next atomic.Uint64
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(targets[next.Add(1)%uint64(len(targets))])
	}}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	for _, r := range replicas {
		waitCacheLive(t, r)
	}
	return &testServer{t: t, URL: front.URL, logs: &syncBuffer{}}, replicas, rs
}

// waitCacheLive waits until the server's session cache is in use, as its log says.
func waitCacheLive(t *testing.T, s *testServer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.logs.String(), "cache in use") {
		if time.Now().After(deadline) {
			t.Fatalf("the session cache did not come up:\n%s", s.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitRefused polls s with tok until it answers 401, and answers how long that took.
func waitRefused(t *testing.T, s *testServer, tok string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		r := s.post(t, tok, `{ version }`, nil)
		if r.Status == http.StatusUnauthorized {
			return time.Since(start)
		}
		if r.Status != http.StatusOK {
			t.Fatalf("unexpected answer: %d %s", r.Status, r.Raw)
		}
		if time.Since(start) > within {
			t.Fatalf("an ended session is still accepted after %v", within)
		}
	}
}

// Replicas share all state through Redis: a session made through one works on the others,
// is refreshed on another, and one ended through any is refused by all, in milliseconds,
// although each replica caches the sessions it has checked.
func TestReplicasShareState(t *testing.T) {
	lb, reps, _ := startReplicas(t, 2, nil)
	a, b := reps[0], reps[1]

	// Through the one address: every request lands on the other replica than the last.
	admin := lb.login(t, adminName, adminPass)
	lb.createUser(t, admin, "alice", "alice-password-1")
	for range 4 {
		if r := lb.post(t, admin, `{ me { username } }`, nil); r.str(t, "me.username") != adminName {
			t.Fatalf("me through the load balancer: %s", r.Raw)
		}
	}

	// Log in on A, use on B (so that both cache it), end on B: A refuses it.
	var took []time.Duration
	for range 10 {
		tok := a.login(t, "alice", "alice-password-1")
		for _, s := range []*testServer{a, b, a, b} {
			if r := s.post(t, tok, `{ me { username } }`, nil); r.Status != http.StatusOK || r.str(t, "me.username") != "alice" {
				t.Fatalf("session made on A, used on another: %d %s", r.Status, r.Raw)
			}
		}
		if r := b.post(t, tok, `mutation { deleteSession { token } }`, nil); r.code() != "" {
			t.Fatalf("deleteSession on B: %s", r.Raw)
		}
		took = append(took, waitRefused(t, a, tok, time.Second))
	}
	slices.Sort(took)
	t.Logf("an ended session was refused by the other replica after %v (median) to %v (slowest)", took[len(took)/2], took[len(took)-1])
	if took[len(took)/2] > 100*time.Millisecond {
		t.Errorf("median time for another replica to refuse an ended session: %v, want under 100ms", took[len(took)/2])
	}

	// A refreshable sign-in on A, refreshed on B, used on both, revoked on B: on A, both
	// access tokens and the refresh token are refused.
	r := a.post(t, "", loginRefreshable, map[string]any{"u": "alice", "p": "alice-password-1"})
	access1, refresh1 := r.str(t, "createSessionUsingUsername.token"), r.str(t, "createSessionUsingUsername.refreshToken")
	for _, s := range []*testServer{a, b} {
		if r := s.post(t, access1, `{ me { username } }`, nil); r.Status != http.StatusOK {
			t.Fatalf("access token of a sign-in on A: %d %s", r.Status, r.Raw)
		}
	}
	r = b.post(t, "", refreshMutation, map[string]any{"r": refresh1})
	access2, refresh2 := r.str(t, "refreshSession.token"), r.str(t, "refreshSession.refreshToken")
	for _, s := range []*testServer{a, b} {
		if r := s.post(t, access2, `{ me { username } }`, nil); r.Status != http.StatusOK {
			t.Fatalf("access token refreshed on B: %d %s", r.Status, r.Raw)
		}
	}
	if r := b.post(t, access2, `mutation { deleteSession { id } }`, nil); r.code() != "" {
		t.Fatalf("deleteSession of the refreshed session on B: %s", r.Raw)
	}
	waitRefused(t, a, access2, time.Second)
	waitRefused(t, a, access1, time.Second) // the whole family ended
	if r := a.post(t, "", refreshMutation, map[string]any{"r": refresh2}); r.code() == "" {
		t.Fatalf("the refresh token of an ended sign-in still refreshes on A: %s", r.Raw)
	}

	// A user key made on B logs in on A; deleting it on A ends its sessions on B.
	alice := b.login(t, "alice", "alice-password-1")
	r = b.post(t, alice, `mutation { createUserKey { id secret } }`, nil)
	keyID, secret := r.str(t, "createUserKey.id"), r.str(t, "createUserKey.secret")
	r = a.post(t, "", `mutation($k: ObjectID!, $s: String!) { createSessionUsingUserKey(input: {userKeyId: $k, secret: $s}) { token } }`,
		map[string]any{"k": keyID, "s": secret})
	keyToken := r.str(t, "createSessionUsingUserKey.token")
	if r := b.post(t, keyToken, `{ version }`, nil); r.Status != http.StatusOK {
		t.Fatalf("key session made on A, on B: %d %s", r.Status, r.Raw)
	}
	if r := a.post(t, alice, `mutation($k: ObjectID!) { deleteUserKey(input: {userKeyId: $k}) { userKey { id } } }`, map[string]any{"k": keyID}); r.code() != "" {
		t.Fatalf("deleteUserKey on A: %s", r.Raw)
	}
	waitRefused(t, b, keyToken, time.Second)
	if r := b.post(t, alice, `{ version }`, nil); r.Status != http.StatusOK {
		t.Fatalf("alice's password session ended with her key: %d %s", r.Status, r.Raw)
	}
}

// A session the cache holds is not served from it while Redis is down: the cache goes out of
// use as soon as its invalidation channel drops, so the request answers 503 like any other.
func TestCachedSessionDuringOutage(t *testing.T) {
	srv, rs := startRedisServer(t, nil)
	if rs.External {
		t.Skip("stopping Redis needs a private redis-server")
	}
	waitCacheLive(t, srv)
	admin := srv.login(t, adminName, adminPass)
	for range 3 { // cached now
		if r := srv.post(t, admin, `{ me { id } }`, nil); r.Status != http.StatusOK {
			t.Fatalf("me: %d %s", r.Status, r.Raw)
		}
	}
	rs.Stop()
	// The subscription's connection fails within moments of the kill; until the cache has
	// noticed, a request may still be served from it, which is what the wait allows.
	deadline := time.Now().Add(2 * time.Second)
	for {
		r := srv.post(t, admin, `{ me { id } }`, nil)
		if r.Status == http.StatusServiceUnavailable && r.code() == "SERVICE_UNAVAILABLE" {
			break
		}
		if r.Status != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("authenticated request during outage: %d %s", r.Status, r.Raw)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rs.Restart()
	// Redis came back empty: the session is gone, and the cache must not say otherwise.
	deadline = time.Now().Add(5 * time.Second)
	for {
		r := srv.post(t, admin, `{ me { id } }`, nil)
		if r.Status == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the outage: %d %s", r.Status, r.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSessionCacheCanBeTurnedOff(t *testing.T) {
	srv, _ := startRedisServer(t, map[string]string{"AUTHGRAPH_SESSION_CACHE_TTL": "0"})
	if !strings.Contains(srv.logs.String(), "session cache: off") {
		t.Fatalf("the log does not say the cache is off:\n%s", srv.logs)
	}
	tok := srv.login(t, adminName, adminPass)
	if r := srv.post(t, tok, `{ me { username } }`, nil); r.str(t, "me.username") != adminName {
		t.Fatalf("me: %s", r.Raw)
	}
	srv.post(t, tok, `mutation { deleteSession { token } }`, nil)
	if r := srv.post(t, tok, `{ version }`, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", r.Status)
	}
}

// The same server runs on Sentinel through the same client interface: the seed's flow, a
// restart, and the session cache's invalidation channel (on the master Sentinel names).
func TestSeedFlowSentinel(t *testing.T) {
	rs := redistest.StartSentinel(t)
	env := map[string]string{"AUTHGRAPH_REDIS_URL": rs.URL, "AUTHGRAPH_REDIS_PREFIX": rs.Prefix, "AUTHGRAPH_REDIS_TIMEOUT": "500ms"}
	srv := startServer(t, env)
	waitCacheLive(t, srv)
	secrets := runSeedFlow(t, srv, func() *testServer {
		srv.stop()
		srv = startServer(t, env)
		return srv
	})
	assertNoSecretInRedis(t, rs.Client, rs.Prefix, secrets)
}
