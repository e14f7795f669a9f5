package redistest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the master name StartSentinel's sentinel monitors.
const SentinelMaster = "mymaster"

// StartSentinel gives t a private Redis master watched by one Sentinel (quorum 1), as the
// smallest Sentinel deployment there is. The Server's URL is in authgraph's
// redis+sentinel://sentinel?master_name=mymaster form and its Client a failover client; the
// master itself is at Addr. Stop and Restart are refused. It skips, or fails under CI=true,
// as Start does.
func StartSentinel(t testing.TB) *Server {
	t.Helper()
	p, bin := choose(func(k string) string {
		if k == EnvURL {
			return "" // a deployment of our own, whatever the tests share
		}
		return os.Getenv(k)
	}, exec.LookPath)
	switch p {
	case planFail:
		t.Fatal(bin)
	case planSkip:
		warnOnce.Do(func() { warn(bin) })
		t.Skip(bin)
	}
	master, err := newProcess(bin, t.TempDir())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("redis-server output:\n%s", master.output())
		}
	})
	t.Cleanup(master.kill)
	if err != nil {
		t.Fatalf("redistest: start redis-server: %v", err)
	}
	// Sentinel rewrites its configuration file, so it gets one of its own, named first.
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\n", SentinelMaster, master.port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	sentinel, err := startProcess(&process{bin: bin, dir: dir, first: []string{conf, "--sentinel"}})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("redis-server --sentinel output:\n%s", sentinel.output())
		}
	})
	t.Cleanup(sentinel.kill)
	if err != nil {
		t.Fatalf("redistest: start redis-server --sentinel: %v", err)
	}
	s := &Server{
		t: t, Prefix: "t" + randomHex(6) + ":", Addr: master.addr(),
		URL: "redis+sentinel://" + sentinel.addr() + "?master_name=" + SentinelMaster,
	}
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: SentinelMaster, SentinelAddrs: []string{sentinel.addr()}})
	t.Cleanup(func() { _ = c.Close() })
	s.Client = c
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(t.Context()).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: the master does not answer through Sentinel: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}
