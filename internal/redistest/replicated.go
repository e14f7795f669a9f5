package redistest

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Replicated is a primary with one replica (or more: StartReplicatedN), watched by three
// Sentinels (quorum 2), as the smallest Sentinel deployment that fails over by itself:
// StartReplicated makes one for a test that kills the primary. Each replica replicates
// through a link of the harness's own, a loopback proxy that FreezeReplication can stop, so
// that a test can make the replicas fall behind on purpose, as a slow network or a busy
// replica would.
type Replicated struct {
	// URL is the deployment in authgraph's redis+sentinel:// form (all three Sentinels).
	URL string
	// Client is a failover client of the deployment.
	Client    redis.UniversalClient
	Sentinels []string // the Sentinels' host:port

	t         testing.TB
	primary   *process
	replicas  []*process
	sentinels []*process
	links     []*link
}

// Replicated's Sentinel settings: a primary that answers no PING for DownAfter is down, and
// the Sentinels start a failover (which takes another second or two).
const (
	DownAfter       = time.Second
	failoverTimeout = 120 * time.Second // long: it also delays Sentinel's fix of the replica's proxied master address
)

// StartReplicated starts a Replicated for t and stops it when t ends. It skips, or fails
// under CI=true, as Start does.
func StartReplicated(t testing.TB) *Replicated {
	t.Helper()
	return StartReplicatedN(t, 1)
}

// StartReplicatedN is StartReplicated with n replicas.
func StartReplicatedN(t testing.TB, n int) *Replicated {
	t.Helper()
	bin := localBin(t)
	r := &Replicated{t: t}
	logOnFailure := func(name string, p *process) {
		t.Cleanup(func() {
			if t.Failed() && p != nil {
				t.Logf("%s output:\n%s", name, p.output())
			}
		})
		t.Cleanup(p.kill)
	}
	var err error
	r.primary, err = newProcess(bin, t.TempDir())
	logOnFailure("primary", r.primary)
	if err != nil {
		t.Fatalf("redistest: start the primary: %v", err)
	}
	for i := range n {
		l := newLink(t, r.primary.addr())
		p, err := newProcess(bin, t.TempDir(), "--replicaof", "127.0.0.1", strconv.Itoa(l.port()))
		logOnFailure("replica "+strconv.Itoa(i), p)
		if err != nil {
			t.Fatalf("redistest: start replica %d: %v", i, err)
		}
		r.links, r.replicas = append(r.links, l), append(r.replicas, p)
	}
	for i := range 3 {
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		text := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d 2\n"+
			"sentinel down-after-milliseconds %[1]s %[3]d\n"+
			"sentinel failover-timeout %[1]s %[4]d\n",
			SentinelMaster, r.primary.port, DownAfter.Milliseconds(), failoverTimeout.Milliseconds())
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := startProcess(&process{bin: bin, dir: dir, first: []string{conf, "--sentinel"}})
		logOnFailure("sentinel "+strconv.Itoa(i), s)
		if err != nil {
			t.Fatalf("redistest: start sentinel %d: %v", i, err)
		}
		r.sentinels = append(r.sentinels, s)
		r.Sentinels = append(r.Sentinels, s.addr())
	}
	r.URL = "redis+sentinel://" + r.Sentinels[0] + "?addr=" + r.Sentinels[1] + "&addr=" + r.Sentinels[2] + "&master_name=" + SentinelMaster
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: SentinelMaster, SentinelAddrs: r.Sentinels})
	t.Cleanup(func() { _ = c.Close() })
	r.Client = c
	if err := r.waitReady(20 * time.Second); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return r
}

// localBin is the redis-server to run, or skips or fails t as Start would.
func localBin(t testing.TB) string {
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
	return bin
}

// waitReady waits until the replica is in sync and every Sentinel knows the replica and the
// two other Sentinels: before that, a failover could not happen.
func (r *Replicated) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	ctx := context.Background()
	for {
		err := r.ready(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sentinel deployment not ready within %v: %w", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *Replicated) ready(ctx context.Context) error {
	for _, addr := range r.Sentinels {
		s := redis.NewSentinelClient(&redis.Options{Addr: addr})
		replicas, err := s.Replicas(ctx, SentinelMaster).Result()
		if err == nil && len(replicas) != len(r.replicas) {
			err = fmt.Errorf("sentinel %s knows %d replicas", addr, len(replicas))
		}
		if err == nil {
			var others []map[string]string
			others, err = s.Sentinels(ctx, SentinelMaster).Result()
			if err == nil && len(others) != 2 {
				err = fmt.Errorf("sentinel %s knows %d other sentinels", addr, len(others))
			}
		}
		_ = s.Close()
		if err != nil {
			return err
		}
	}
	for _, p := range r.replicas {
		c := redis.NewClient(&redis.Options{Addr: p.addr()})
		info, err := c.Info(ctx, "replication").Result()
		_ = c.Close()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("replica %s is not in sync yet", p.addr())
		}
	}
	return nil
}

// PrimaryAddr is the address of the primary the deployment started with.
func (r *Replicated) PrimaryAddr() string { return r.primary.addr() }

// ReplicaAddr is the address of the (first) replica the deployment started with.
func (r *Replicated) ReplicaAddr() string { return r.replicas[0].addr() }

// KillPrimary kills the primary the deployment started with (SIGKILL, as a crash would).
func (r *Replicated) KillPrimary() { r.primary.kill() }

// RestartOldPrimary starts the killed primary again, empty, on its port, as a replica of the
// primary the Sentinels name now, as an orchestrator would restart it: the new primary has a
// replica again. (Left to the Sentinels, a primary that comes back as one is turned into a
// replica only after it has been up for some eight seconds.)
func (r *Replicated) RestartOldPrimary() {
	r.t.Helper()
	m, err := r.Master(context.Background())
	if err != nil {
		r.t.Fatalf("redistest: ask the sentinels for the primary: %v", err)
	}
	host, port, _ := net.SplitHostPort(m)
	r.primary.extra = []string{"--replicaof", host, port}
	if err := r.primary.start(); err != nil {
		r.t.Fatalf("redistest: restart the old primary: %v", err)
	}
}

// FreezeReplication stops the replicas' links: from now on, nothing the primary writes
// reaches a replica (it is dropped, as a partition would), while the replica still sees
// its link up. Writes acknowledged after this are lost if the primary then dies.
func (r *Replicated) FreezeReplication() {
	for _, l := range r.links {
		l.frozen.Store(true)
	}
}

// Master answers the address the Sentinels give for the primary now.
func (r *Replicated) Master(ctx context.Context) (string, error) {
	s := redis.NewSentinelClient(&redis.Options{Addr: r.Sentinels[0]})
	defer s.Close()
	hp, err := s.GetMasterAddrByName(ctx, SentinelMaster).Result()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}

// WaitFailover waits until the Sentinels name a replica as the primary, and answers how long
// that took from since.
func (r *Replicated) WaitFailover(since time.Time, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		m, err := r.Master(context.Background())
		if err == nil && slices.ContainsFunc(r.replicas, func(p *process) bool { return p.addr() == m }) {
			return time.Since(since), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no failover within %v", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// link is a loopback TCP proxy to one address. While frozen it drops what the far end sends
// instead of passing it on.
type link struct {
	ln     net.Listener
	to     string
	frozen atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
}

func newLink(t testing.TB, to string) *link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{ln: ln, to: to}
	go l.serve()
	t.Cleanup(l.close)
	return l
}

func (l *link) port() int { return l.ln.Addr().(*net.TCPAddr).Port }

func (l *link) serve() {
	for {
		in, err := l.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.DialTimeout("tcp", l.to, time.Second)
		if err != nil {
			in.Close()
			continue
		}
		l.mu.Lock()
		l.conns = append(l.conns, in, out)
		l.mu.Unlock()
		go func() { // towards the far end: always passed on
			_, _ = io.Copy(out, in)
			out.Close()
			in.Close()
		}()
		go func() { // from the far end: dropped while frozen
			buf := make([]byte, 32<<10)
			for {
				n, err := out.Read(buf)
				if n > 0 && !l.frozen.Load() {
					if _, werr := in.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			in.Close()
			out.Close()
		}()
	}
}

func (l *link) close() {
	l.ln.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
}

// ReplicasOfMaster answers how many replicas the primary the Sentinels name now reports
// connected and online (INFO replication), as a WAIT on it would count them.
func (r *Replicated) ReplicasOfMaster(ctx context.Context) (int, error) {
	m, err := r.Master(ctx)
	if err != nil {
		return 0, err
	}
	c := redis.NewClient(&redis.Options{Addr: m})
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return 0, err
	}
	return strings.Count(info, "state=online"), nil
}
