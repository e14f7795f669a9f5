// Package redistest gives tests a throwaway Redis: the server named by AUTHGRAPH_REDIS_URL, or
// else a private redis-server from PATH on a free loopback port. With neither, tests skip
// loudly, or fail under CI=true, so that a CI run cannot pass without having run them.
//
// AUTHGRAPH_REDIS_URL may also be a Redis Cluster, in authgraph's redis+cluster://host:port
// ?addr=host:port… form: tests then share it, each under its own key prefix. StartCluster
// gives a test a private cluster, and NewCluster (used by cmd/withcluster, which `make test`
// runs) starts one outside a test.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the variable that points the tests at an existing Redis.
const EnvURL = "AUTHGRAPH_REDIS_URL"

// Server is one test's Redis.
type Server struct {
	Addr   string // host:port
	URL    string // redis://… URL of the server
	Client redis.UniversalClient
	// Prefix is unique to this Start; stores under test must put every key under it, so that
	// tests sharing one AUTHGRAPH_REDIS_URL server neither collide nor leave data behind.
	Prefix string
	// External is true when the server is AUTHGRAPH_REDIS_URL's: Stop and Restart are refused,
	// so fault tests should skip when it is set.
	External bool
	// Cluster is true when the server is a Redis Cluster (StartCluster's, or a
	// redis+cluster:// AUTHGRAPH_REDIS_URL): Client is a *redis.ClusterClient, URL is in
	// authgraph's redis+cluster:// form, and Stop and Restart are refused.
	Cluster bool

	t    testing.TB
	proc *process // nil when External
}

// Start gives t a Redis and arranges for it to be cleaned up when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	p, arg := choose(os.Getenv, exec.LookPath)
	s := &Server{t: t, Prefix: "t" + randomHex(6) + ":"}
	switch p {
	case planExternal:
		s.startExternal(arg)
	case planLocal:
		s.startLocal(arg)
	case planFail:
		t.Fatal(arg)
	case planSkip:
		warnOnce.Do(func() { warn(arg) })
		t.Skip(arg)
	}
	return s
}

// NewClient returns another client of the server, configured by configure (nil for the
// defaults), e.g. with short timeouts for a test that stops the server. It is closed when
// the test ends. For a cluster, configure applies to each node's client.
func (s *Server) NewClient(configure func(*redis.Options)) redis.UniversalClient {
	s.t.Helper()
	c, err := newUniversalClient(s.URL, configure)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop kills the server, as a crash would. Call it from the test's goroutine.
func (s *Server) Stop() {
	s.t.Helper()
	if s.External || s.proc == nil {
		s.t.Fatalf("redistest: Stop needs a private redis-server, not the one in %s or a cluster; skip this test when Server.External is set", EnvURL)
	}
	s.proc.kill()
}

// Restart starts a stopped server again on the same port and directory. It comes back empty:
// the harness runs Redis without persistence.
func (s *Server) Restart() {
	s.t.Helper()
	if s.External || s.proc == nil {
		s.t.Fatalf("redistest: Restart needs a private redis-server, not the one in %s or a cluster; skip this test when Server.External is set", EnvURL)
	}
	if err := s.proc.start(); err != nil {
		s.t.Fatalf("redistest: restart redis-server: %v\n%s", err, s.proc.output())
	}
}

type plan int

const (
	planExternal plan = iota // arg: the URL
	planLocal                // arg: the redis-server binary
	planSkip                 // arg: the message
	planFail                 // arg: the message
)

// choose decides where the tests' Redis comes from.
func choose(getenv func(string) string, lookPath func(string) (string, error)) (plan, string) {
	if u := getenv(EnvURL); u != "" {
		return planExternal, u
	}
	if bin, err := lookPath("redis-server"); err == nil {
		return planLocal, bin
	}
	const how = "install redis-server (e.g. apt-get install redis-server) or set " + EnvURL + "=redis://host:port/db"
	if ci, _ := strconv.ParseBool(getenv("CI")); ci { // as testenv.CI, with getenv injected for its test
		return planFail, "redistest: CI=true but there is no Redis to test against: " + how
	}
	return planSkip, "REDIS TESTS SKIPPED: no redis-server on PATH and no " + EnvURL + "; " + how +
		" to run them (under CI=true this is a failure)"
}

var warnOnce sync.Once

// warn shouts msg where a person will see it. `go test ./...` shows a passing package's
// stderr only with -v, so the terminal, when there is one, is told directly.
func warn(msg string) {
	w := os.Stderr
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		w = tty
	}
	fmt.Fprintf(w, "\n*** %s ***\n\n", msg)
}

func (s *Server) startExternal(url string) {
	s.t.Helper()
	s.URL, s.External, s.Cluster = url, true, IsClusterURL(url)
	c, err := newUniversalClient(url, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if cc, ok := c.(*redis.ClusterClient); ok {
		s.Addr = cc.Options().Addrs[0]
	} else {
		s.Addr = c.(*redis.Client).Options().Addr
	}
	s.Client = c
	s.t.Cleanup(func() { _ = c.Close() })
	s.t.Cleanup(func() {
		if err := deletePrefix(c, s.Prefix); err != nil {
			s.t.Errorf("redistest: delete keys under %q: %v", s.Prefix, err)
		}
	})
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Ping(ctx).Err()
	}
	if err := waitPing(ping, 5*time.Second, nil); err != nil {
		s.t.Fatalf("redistest: Redis at %s does not answer: %v", s.Addr, err)
	}
}

func (s *Server) startLocal(bin string) {
	s.t.Helper()
	p, err := newProcess(bin, s.t.TempDir())
	// Registered first so that it runs last, after the kill, with all the output.
	s.t.Cleanup(func() {
		if s.t.Failed() {
			s.t.Logf("redis-server output:\n%s", p.output())
		}
	})
	s.t.Cleanup(p.kill)
	if err != nil {
		s.t.Fatalf("redistest: start redis-server: %v\n%s", err, p.output())
	}
	s.proc = p
	s.Addr = p.addr()
	s.URL = "redis://" + s.Addr
	s.Client = s.NewClient(nil)
}

// deletePrefix removes every key under prefix, for a shared server (or cluster: one key per
// command, since a Cluster refuses a multi-key command across slots).
func deletePrefix(c redis.UniversalClient, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys, err := Keys(ctx, c, prefix+"*")
	if err != nil {
		return err
	}
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys[:n] {
				p.Unlink(ctx, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// waitPing polls ping until it succeeds, the timeout passes, or exited is closed.
func waitPing(ping func() error, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ping()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING within %v: %w", timeout, err)
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// parseURL is redis.ParseURL with an error that cannot hold the URL's password. A
// redis+cluster:// URL goes through newUniversalClient instead.
func parseURL(u string) (*redis.Options, error) {
	opts, err := redis.ParseURL(u)
	if err != nil {
		return nil, fmt.Errorf("redistest: %s is not a valid Redis URL (redis://[user:password@]host:port[/db])", EnvURL)
	}
	return opts, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b)
}
