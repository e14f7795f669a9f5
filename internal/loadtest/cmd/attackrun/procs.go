package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/loadtest"
)

// redisServer is a redis-server on a loopback port, in a private directory, with the
// append-only file on.
type redisServer struct {
	port  int
	dir   string
	fsync string
	args  []string // more redis-server arguments
	cmd   *exec.Cmd
}

func startRedis(fsync string, args ...string) (*redisServer, error) {
	dir, err := os.MkdirTemp("", "authgraph-loadtest-redis-")
	if err != nil {
		return nil, err
	}
	port, err := loadtest.FreePort()
	if err != nil {
		return nil, err
	}
	r := &redisServer{port: port, dir: dir, fsync: fsync, args: args}
	return r, r.start()
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start() error {
	r.cmd = exec.Command("redis-server", append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--dir", r.dir, "--appendonly", "yes", "--appendfsync", r.fsync, "--save", ""}, r.args...)...)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("redis-server (install it: apt-get install redis-server): %w", err)
	}
	c := r.client()
	defer c.Close()
	for i := 0; ; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return nil
		}
		if i == 400 {
			return fmt.Errorf("redis-server did not start")
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (r *redisServer) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: fmt.Sprint("127.0.0.1:", r.port), MaxRetries: -1, DialTimeout: time.Second})
}

// kill ends redis-server as a crash would: SIGKILL, nothing flushed on the way out.
func (r *redisServer) kill() {
	if r.cmd == nil {
		return
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	_ = r.cmd.Wait()
	r.cmd = nil
}

func (r *redisServer) remove() {
	r.kill()
	_ = os.RemoveAll(r.dir)
}

// countKeys counts the keys that match pattern.
func (r *redisServer) countKeys(ctx context.Context, pattern string) (int, error) {
	c := r.client()
	defer c.Close()
	n := 0
	iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		n++
	}
	return n, iter.Err()
}

// startStack starts a redis-server with the append-only file fsynced as fsync, and the
// authgraph binary on it with an admin, loopback trusted as a proxy (so that each load
// client can be its own address) and the extra settings of extra. It answers both and the
// server's settings.
func startStack(bin, fsync string, extra map[string]string, redisArgs ...string) (*redisServer, *server, map[string]string, error) {
	rs, err := startRedis(fsync, redisArgs...)
	if err != nil {
		return nil, nil, nil, err
	}
	env := map[string]string{
		"AUTHGRAPH_REDIS_URL":       rs.url(),
		"AUTHGRAPH_ADMIN_USERNAME":  "admin",
		"AUTHGRAPH_ADMIN_PASSWORD":  "admin-password-for-the-load-test",
		"AUTHGRAPH_TRUSTED_PROXIES": "127.0.0.1",
	}
	for k, v := range extra {
		env[k] = v
	}
	srv, err := startServer(bin, env)
	if err != nil {
		rs.remove()
		return nil, nil, nil, err
	}
	return rs, srv, env, nil
}

// server is the authgraph binary, listening on a loopback port.
type server struct {
	cmd     *exec.Cmd
	addr    string
	metrics string // the metrics listener's address
	done    chan struct{}
}

func startServer(bin string, env map[string]string) (*server, error) {
	s := &server{cmd: exec.Command(bin), done: make(chan struct{})}
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "AUTHGRAPH_ADDR=127.0.0.1:0", "AUTHGRAPH_METRICS_ADDR=127.0.0.1:0"}
	for k, v := range env {
		s.cmd.Env = append(s.cmd.Env, k+"="+v)
	}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s (make build): %w", bin, err)
	}
	addr := make(chan string, 1)
	metrics := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l struct{ Message, Addr string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Message == "metrics: listening" {
				metrics <- l.Addr
			}
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Message == "listening" {
				addr <- l.Addr
				break
			}
		}
		_, _ = io.Copy(io.Discard, out) // the request log, at the default level, as in production
	}()
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	select {
	case s.addr = <-addr:
		select {
		case s.metrics = <-metrics: // logged before "listening"
		default:
		}
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("authgraph exited at start")
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, fmt.Errorf("authgraph did not start")
	}
}

// peakRSS is the most resident memory the process has had (VmHWM), in MiB.
func (s *server) peakRSS() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", s.cmd.Process.Pid)
}

// stop sends SIGTERM and waits (then SIGKILL after 20 s).
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}
