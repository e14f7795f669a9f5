package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/testenv"
)

// ReplicatedCluster is a private Redis Cluster of ClusterMasters masters with one replica
// each, for a test that kills a master and watches its replica take over.
type ReplicatedCluster struct {
	*Cluster
	URL    string
	Client redis.UniversalClient
	t      testing.TB
}

// StartReplicatedCluster starts a ReplicatedCluster for t, whose masters are taken for failed
// after nodeTimeout (cluster-node-timeout), and stops it when t ends. It skips, or fails
// under CI=true, as StartCluster does.
func StartReplicatedCluster(t testing.TB, nodeTimeout time.Duration) *ReplicatedCluster {
	t.Helper()
	bin := localBin(t)
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		testenv.Skip(t, "redistest: redis-cli is needed to make a cluster (apt-get install redis-tools)")
	}
	c, err := NewClusterWith(bin, cli, t.TempDir(), ClusterOptions{Replicas: 1, NodeTimeout: nodeTimeout})
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(c.Close)
	rc := &ReplicatedCluster{Cluster: c, URL: c.URL(), t: t}
	rc.Client, err = newUniversalClient(rc.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rc.Client.Close() })
	// redis-cli answers once the slots are assigned; the replicas may still be syncing.
	if err := rc.waitReplicasInSync(20 * time.Second); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return rc
}

// Masters answers the indexes (in Addrs) of the nodes that are masters now, as the first
// live node sees them.
func (c *ReplicatedCluster) Masters(ctx context.Context) ([]int, error) {
	nodes, err := c.clusterNodes(ctx)
	if err != nil {
		return nil, err
	}
	var masters []int
	for i, a := range c.Addrs() {
		if f, ok := nodes[a]; ok && strings.Contains(f, "master") && !strings.Contains(f, "fail") {
			masters = append(masters, i)
		}
	}
	return masters, nil
}

// clusterNodes answers the flags of every node by address, from the first live node.
func (c *ReplicatedCluster) clusterNodes(ctx context.Context) (map[string]string, error) {
	var lastErr error
	for _, n := range c.nodes {
		cl := redis.NewClient(&redis.Options{Addr: n.addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		text, err := cl.ClusterNodes(ctx).Result()
		_ = cl.Close()
		if err != nil {
			lastErr = err
			continue
		}
		flags := map[string]string{}
		for line := range strings.SplitSeq(strings.TrimSpace(text), "\n") {
			f := strings.Fields(line)
			if len(f) < 3 {
				continue
			}
			addr, _, _ := strings.Cut(f[1], "@")
			flags[addr] = f[2]
		}
		return flags, nil
	}
	return nil, fmt.Errorf("no node answers CLUSTER NODES: %w", lastErr)
}

// Kill kills node i (SIGKILL, as a crash would).
func (c *ReplicatedCluster) Kill(i int) { c.nodes[i].kill() }

// Restart starts node i again on its port with its nodes.conf: it rejoins the cluster, as a
// replica of whoever took its slots over.
func (c *ReplicatedCluster) Restart(i int) {
	c.t.Helper()
	if err := c.nodes[i].start(); err != nil {
		c.t.Fatalf("redistest: restart cluster node %d: %v", i, err)
	}
}

// WaitPromoted waits until node dead is no longer a master and ClusterMasters other nodes
// are: its replica has taken its slots over.
func (c *ReplicatedCluster) WaitPromoted(dead int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		m, err := c.Masters(context.Background())
		if err == nil && len(m) == ClusterMasters && !slices.Contains(m, dead) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %d's replica did not take over within %v (masters %v, %v)", dead, timeout, m, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitHealed waits until every node but the dead ones (by index) reports every slot served.
func (c *ReplicatedCluster) WaitHealed(timeout time.Duration, dead ...int) error {
	deadline := time.Now().Add(timeout)
	for {
		var err error
		for i, n := range c.nodes {
			if slices.Contains(dead, i) {
				continue
			}
			if err = clusterOK(n.addr(), c.known); err != nil {
				break
			}
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not whole within %v: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReplicasInSync waits until every replica reports its link to its master up.
func (c *ReplicatedCluster) waitReplicasInSync(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	ctx := context.Background()
	for {
		synced := 0
		for _, n := range c.nodes {
			cl := redis.NewClient(&redis.Options{Addr: n.addr()})
			info, err := cl.Info(ctx, "replication").Result()
			_ = cl.Close()
			if err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_link_status:up") {
				synced++
			}
		}
		if synced == len(c.nodes)-ClusterMasters {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d replicas in sync after %v", synced, len(c.nodes)-ClusterMasters, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
