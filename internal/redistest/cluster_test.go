package redistest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestCluster(t *testing.T) {
	c := StartCluster(t)
	ctx := context.Background()
	if _, ok := c.Client.(*redis.ClusterClient); !ok || !c.Cluster || !strings.HasPrefix(c.URL, "redis+cluster://") {
		t.Fatalf("StartCluster gave client %T, URL %q", c.Client, c.URL)
	}
	// Keys spread over every master.
	for i := range 100 {
		if err := c.Client.Set(ctx, fmt.Sprintf("%sk%d", c.Prefix, i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var masters atomic.Int64
	err := c.Client.(*redis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		if size := n.DBSize(ctx).Val(); size > 0 {
			masters.Add(1)
		}
		return nil
	})
	if err != nil || masters.Load() != ClusterMasters {
		t.Errorf("keys landed on %d masters (%v), want %d", masters.Load(), err, ClusterMasters)
	}
	keys, err := Keys(ctx, c.Client, c.Prefix+"*")
	if err != nil || len(keys) != 100 {
		t.Errorf("Keys found %d keys (%v), want 100", len(keys), err)
	}
	// It is a real cluster: keys of two slots in one command are refused, one hash tag's
	// are not.
	if err := c.Client.MSet(ctx, c.Prefix+"a", 1, c.Prefix+"b", 2).Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Errorf("MSET across slots: %v, want CROSSSLOT", err)
	}
	if err := c.Client.MSet(ctx, c.Prefix+"{x}a", 1, c.Prefix+"{x}b", 2).Err(); err != nil {
		t.Errorf("MSET in one slot: %v", err)
	}

	// Through AUTHGRAPH_REDIS_URL, as `make test` shares one cluster: a test's keys are
	// removed when it ends.
	var prefix string
	t.Run("external", func(t *testing.T) {
		t.Setenv(EnvURL, c.URL)
		s := Start(t)
		if !s.External || !s.Cluster {
			t.Fatalf("External %v, Cluster %v", s.External, s.Cluster)
		}
		prefix = s.Prefix
		for i := range 50 {
			if err := s.Client.Set(ctx, fmt.Sprintf("%sk%d", s.Prefix, i), i, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		quick := s.NewClient(func(o *redis.Options) { o.MaxRetries = 1 })
		if err := quick.Get(ctx, s.Prefix+"k1").Err(); err != nil {
			t.Fatal(err)
		}
	})
	if keys, err := Keys(ctx, c.Client, prefix+"*"); err != nil || len(keys) != 0 {
		t.Errorf("%d keys left under the external test's prefix (%v)", len(keys), err)
	}
}

func TestSentinel(t *testing.T) {
	s := StartSentinel(t)
	ctx := context.Background()
	if _, ok := s.Client.(*redis.Client); !ok || !strings.HasPrefix(s.URL, "redis+sentinel://") {
		t.Fatalf("StartSentinel gave client %T, URL %q", s.Client, s.URL)
	}
	if err := s.Client.Set(ctx, s.Prefix+"k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// The value is on the master the sentinel names.
	direct := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer direct.Close()
	if v, err := direct.Get(ctx, s.Prefix+"k").Result(); err != nil || v != "v" {
		t.Fatalf("GET on the master: %q, %v", v, err)
	}
}
