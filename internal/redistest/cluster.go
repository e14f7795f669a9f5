package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/testenv"
)

// ClusterMasters is the size of the clusters StartCluster and NewCluster make: the smallest
// Redis Cluster there is, three masters and no replicas.
const ClusterMasters = 3

// Cluster is a private Redis Cluster of redis-server processes on loopback ports, made with
// redis-cli --cluster create, as an operator would.
type Cluster struct {
	nodes []*process
	known int // how many nodes each node must know for the cluster to be whole
}

// ClusterOptions shape NewClusterWith's cluster.
type ClusterOptions struct {
	// Replicas is the number of replicas of each of the ClusterMasters masters.
	Replicas int
	// NodeTimeout is cluster-node-timeout: how long a master may not answer before its
	// replica takes over. Default 5s.
	NodeTimeout time.Duration
}

// NewCluster starts a cluster of ClusterMasters nodes with its files under dir, and waits
// until every node reports cluster_state:ok. serverBin and cliBin are the redis-server and
// redis-cli to run. On error, what was started is stopped again.
func NewCluster(serverBin, cliBin, dir string) (c *Cluster, err error) {
	return NewClusterWith(serverBin, cliBin, dir, ClusterOptions{})
}

// NewClusterWith is NewCluster with replicas (redis-cli --cluster create --cluster-replicas)
// and another node timeout.
func NewClusterWith(serverBin, cliBin, dir string, o ClusterOptions) (c *Cluster, err error) {
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = 5 * time.Second
	}
	c = &Cluster{known: ClusterMasters * (1 + o.Replicas)}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, c.Output())
			c.Close()
		}
	}()
	for i := range c.known {
		nodeDir := filepath.Join(dir, "node"+strconv.Itoa(i))
		if err := os.MkdirAll(nodeDir, 0o700); err != nil {
			return nil, err
		}
		bus, err := freePort()
		if err != nil {
			return nil, err
		}
		p, err := newProcess(serverBin, nodeDir,
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(bus), "--cluster-node-timeout", strconv.FormatInt(o.NodeTimeout.Milliseconds(), 10))
		if p != nil {
			c.nodes = append(c.nodes, p) // even a failed one: Close is harmless, Output useful
		}
		if err != nil {
			return nil, fmt.Errorf("start cluster node %d: %w", i, err)
		}
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(o.Replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cliBin, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %w\n%s", err, out)
	}
	if err := c.waitOK(30 * time.Second); err != nil {
		return nil, err
	}
	return c, nil
}

// Addrs are the nodes' host:port addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.addr()
	}
	return addrs
}

// URL is the cluster's address in authgraph's AUTHGRAPH_REDIS_URL form:
// redis+cluster://first?addr=second&addr=third.
func (c *Cluster) URL() string {
	addrs := c.Addrs()
	u := "redis+cluster://" + addrs[0]
	for i, a := range addrs[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + a
	}
	return u
}

// Close kills every node.
func (c *Cluster) Close() {
	for _, n := range c.nodes {
		n.kill()
	}
}

// Output is what the nodes have written, for a failure's log.
func (c *Cluster) Output() string {
	var b strings.Builder
	for _, n := range c.nodes {
		b.WriteString(n.output())
	}
	return b.String()
}

// waitOK polls CLUSTER INFO on every node until each says the cluster is whole.
func (c *Cluster) waitOK(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var err error
		for _, n := range c.nodes {
			if err = clusterOK(n.addr(), c.known); err != nil {
				break
			}
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ready within %v: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clusterOK asks one node whether it sees a healthy cluster of all the masters with every
// slot served, on a connection of its own (see process.ping for why not go-redis).
func clusterOK(addr string, known int) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("CLUSTER INFO\r\n")); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	head, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(head, "$") && !strings.HasPrefix(head, "=") {
		return fmt.Errorf("CLUSTER INFO answered %q", strings.TrimSpace(head))
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil {
		return err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	info := string(body)
	for _, want := range []string{
		"cluster_state:ok",
		"cluster_slots_ok:16384",
		"cluster_known_nodes:" + strconv.Itoa(known),
	} {
		if !strings.Contains(info, want+"\r\n") {
			return fmt.Errorf("%s: no %s yet", addr, want)
		}
	}
	return nil
}

// StartCluster gives t a private Redis Cluster (see NewCluster) and stops it when t ends.
// It skips, or fails under CI=true, as Start does when redis-server is missing, and also
// when redis-cli is.
func StartCluster(t testing.TB) *Server {
	t.Helper()
	p, arg := choose(func(k string) string {
		if k == EnvURL {
			return "" // a cluster of our own, whatever the tests share
		}
		return os.Getenv(k)
	}, exec.LookPath)
	cli, cliErr := exec.LookPath("redis-cli")
	switch {
	case p == planFail:
		t.Fatal(arg)
	case p == planSkip:
		warnOnce.Do(func() { warn(arg) })
		t.Skip(arg)
	case cliErr != nil:
		testenv.Skip(t, "redistest: redis-cli is needed to make a cluster (apt-get install redis-tools)")
	}
	c, err := NewCluster(arg, cli, t.TempDir())
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(c.Close)
	s := &Server{t: t, Prefix: "t" + randomHex(6) + ":", URL: c.URL(), Addr: c.Addrs()[0], Cluster: true}
	client, err := newUniversalClient(s.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Client = client
	t.Cleanup(func() { _ = client.Close() })
	return s
}

// IsClusterURL reports whether u is in the redis+cluster:// form.
func IsClusterURL(u string) bool {
	return strings.HasPrefix(u, "redis+cluster://") || strings.HasPrefix(u, "rediss+cluster://")
}

// newUniversalClient makes a client of u, a redis:// URL or a redis+cluster:// one. configure,
// if not nil, is applied to the options of each node's client.
func newUniversalClient(u string, configure func(*redis.Options)) (redis.UniversalClient, error) {
	if !IsClusterURL(u) {
		opts, err := parseURL(u)
		if err != nil {
			return nil, err
		}
		if configure != nil {
			configure(opts)
		}
		return redis.NewClient(opts), nil
	}
	opts, err := redis.ParseClusterURL(strings.Replace(u, "+cluster", "", 1))
	if err != nil {
		return nil, errors.New("redistest: " + EnvURL + " is not a valid redis+cluster:// URL")
	}
	if configure != nil {
		opts.NewClient = func(o *redis.Options) *redis.Client {
			configure(o)
			return redis.NewClient(o)
		}
	}
	return redis.NewClusterClient(opts), nil
}

// Keys answers every key matching pattern, on every master when rdb is a Cluster client
// (SCAN on a Cluster client reads one node only).
func Keys(ctx context.Context, rdb redis.UniversalClient, pattern string) ([]string, error) {
	scan := func(ctx context.Context, c redis.Cmdable) ([]string, error) {
		var keys []string
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		return keys, iter.Err()
	}
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return scan(ctx, rdb)
	}
	var (
		all []string
		mu  sync.Mutex
	)
	err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		keys, err := scan(ctx, node)
		mu.Lock()
		defer mu.Unlock()
		all = append(all, keys...)
		return err
	})
	return all, err
}
