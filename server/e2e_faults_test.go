package main

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/testenv"
	"github.com/authgraph/authgraph/internal/token"
)

// A burst of every kind of request during an outage: each is a 503 SERVICE_UNAVAILABLE with
// Retry-After (never a 401 that would log a user out, never a 500), and once Redis is back
// the same burst succeeds, without restarting authgraph. The session cache is off: in the
// moments before a replica notices that its invalidation channel dropped, a cached session
// may still be answered from memory, and TestCachedSessionDuringOutage tests that window.
func TestRedisOutageUnderLoad(t *testing.T) {
	srv, rs := startRedisServer(t, map[string]string{"AUTHGRAPH_RATE_LIMITS": "off", "AUTHGRAPH_HASH_QUEUE": "100", "AUTHGRAPH_SESSION_CACHE_TTL": "0"})
	if rs.External {
		t.Skip("needs a private redis-server to stop")
	}
	admin := srv.login(t, adminName, adminPass)
	key := srv.post(t, admin, `mutation { createUserKey { id secret } }`, nil)
	keyID, secret := key.str(t, "createUserKey.id"), key.str(t, "createUserKey.secret")

	type call struct {
		name, token, query string
		vars               map[string]any
	}
	calls := []call{
		{"me", admin, `{ me { id } }`, nil},
		{"password login", "", loginMutation, map[string]any{"u": adminName, "p": adminPass}},
		{"key login", "", `mutation($id: ObjectID!, $s: String!) { createSessionUsingUserKey(input: {userKeyId: $id, secret: $s}) { token } }`, map[string]any{"id": keyID, "s": secret}},
		{"createUserKey", admin, `mutation { createUserKey { id } }`, nil},
	}
	burst := func() map[string]int {
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for i := range 40 {
			c := calls[i%len(calls)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := srv.post(t, c.token, c.query, c.vars)
				if r.Status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") == "" {
					t.Errorf("%s: 503 without Retry-After", c.name)
				}
				mu.Lock()
				seen[fmt.Sprint(r.Status, " ", r.code())]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		return seen
	}

	// Redis is stopped with its data saved, so that when it comes back the same sessions and
	// keys must work again: recovering means the admin's session is accepted, not refused.
	if err := rs.Client.Save(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	rs.Stop()
	if seen := burst(); len(seen) != 1 || seen["503 SERVICE_UNAVAILABLE"] != 40 {
		t.Fatalf("during the outage: %v; want 40 × 503 SERVICE_UNAVAILABLE", seen)
	}
	if r := srv.raw(t, "GET", "/readyz", ""); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during outage: %d", r.Status)
	}

	rs.Restart() // loads the snapshot saved before the stop
	// go-redis stops dialing a server that refused every connection of its pool and probes
	// it once a second, so /readyz and a few answers may still be 503 until the probe
	// succeeds; then every answer comes from Redis again. Only 503 may precede that.
	for i := 0; srv.raw(t, "GET", "/readyz", "").Status != http.StatusOK; i++ {
		if i == 100 {
			t.Fatal("/readyz stays red after Redis is back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for round := 0; ; round++ {
		seen := burst()
		clean := true
		for k := range seen {
			switch k {
			case "200 ": // the session, the password and the key all work again
			case "503 SERVICE_UNAVAILABLE":
				clean = false
			default:
				t.Fatalf("after the outage: %v", seen)
			}
		}
		if clean {
			break
		}
		if round == 50 {
			t.Fatalf("still answering 503 after %d bursts: %v", round, seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A hung Redis answers 503 too, and a request comes back (the budget bounds its Redis time
// in total; internal/redisbudget's tests show the bound itself, without timing).
func TestHungRedisIs503(t *testing.T) {
	srv := startServer(t, map[string]string{
		"AUTHGRAPH_REDIS_URL": "redis://" + redistest.Blackhole(t) + "/0", "AUTHGRAPH_REDIS_TIMEOUT": "300ms",
		"AUTHGRAPH_ADMIN_USERNAME": "", "AUTHGRAPH_ADMIN_PASSWORD": "",
	})
	wellFormed, err := token.New(token.Session)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, token, query string }{
		{"password login", "", `mutation { createSessionUsingUsername(input: {username: "a", password: "b"}) { token } }`},
		{"a token to check", wellFormed, `{ version }`},
	} {
		start := time.Now()
		r := srv.post(t, c.token, c.query, nil)
		t.Logf("%s: %d %s in %v", c.name, r.Status, r.code(), time.Since(start).Round(time.Millisecond))
		if r.Status != http.StatusServiceUnavailable || r.code() != "SERVICE_UNAVAILABLE" {
			t.Fatalf("%s with Redis hung: %d %s", c.name, r.Status, r.Raw)
		}
	}
	if r := srv.raw(t, "GET", "/readyz", ""); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with Redis hung: %d", r.Status)
	}
}

// With the append-only file fsynced on every write, a Redis killed with SIGKILL and started
// again keeps every session: the tokens issued before the crash still work, and nobody is
// logged out. (docker-compose.yml runs Redis with AOF; the README's Operations section says
// what each fsync policy risks.)
func TestSessionsSurviveARedisCrashWithAOF(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Skip(t, "needs redis-server on PATH")
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--appendonly", "yes", "--appendfsync", "always", "--save", "")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(&redis.Options{Addr: fmt.Sprint("127.0.0.1:", port), MaxRetries: -1})
		defer c.Close()
		for i := 0; c.Ping(t.Context()).Err() != nil; i++ {
			if i > 200 {
				t.Fatal("redis-server did not start")
			}
			time.Sleep(25 * time.Millisecond)
		}
		return cmd
	}
	kill := func(cmd *exec.Cmd) {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}
	cmd := start()
	t.Cleanup(func() { kill(cmd) })

	srv := startServer(t, map[string]string{"AUTHGRAPH_REDIS_URL": fmt.Sprintf("redis://127.0.0.1:%d/0", port), "AUTHGRAPH_REDIS_TIMEOUT": "2s", "AUTHGRAPH_RATE_LIMITS": "off"})
	tokens := make([]string, 10)
	for i := range tokens {
		tokens[i] = srv.login(t, adminName, adminPass)
	}
	kill(cmd)
	if r := srv.post(t, tokens[0], `{ me { id } }`, nil); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("with Redis killed: %d %s", r.Status, r.Raw)
	}
	cmd = start()
	for i, tok := range tokens {
		if r := srv.post(t, tok, `{ me { username } }`, nil); r.Status != http.StatusOK || r.str(t, "me.username") != adminName {
			t.Fatalf("session %d after the crash: %d %s", i, r.Status, r.Raw)
		}
	}
}
