package redisstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/storetest"
)

func TestAuditConformance(t *testing.T) {
	srv := redistest.Start(t)
	var n atomic.Int64
	storetest.AuditStore(t, func(_ *testing.T, c clock.Clock) audit.Store {
		return NewAuditLog(srv.Client, fmt.Sprintf("%sa%d:", srv.Prefix, n.Add(1)), 0, c)
	})
}

// Each XADD trims its stream by age (MINID ~ now − retention): once the clock passes the
// retention, the next write drops the old entries, whole listpack nodes at a time.
func TestAuditTrimsByAge(t *testing.T) {
	srv := redistest.Start(t)
	c := clock.NewFake(time.Now())
	l := NewAuditLog(srv.Client, srv.Prefix+"trim:", time.Hour, c)
	ctx := context.Background()
	batch := make([]audit.Event, 500)
	for i := range batch {
		batch[i] = audit.Event{Time: c.Now(), Type: audit.SignIn, AccountID: 1, UserID: 2}
	}
	if err := l.Append(ctx, batch); err != nil {
		t.Fatal(err)
	}
	key := l.StreamKey(audit.Stream{User: 2})
	if n := srv.Client.XLen(ctx, key).Val(); n != 500 {
		t.Fatalf("XLEN %d before trimming", n)
	}
	c.Advance(2 * time.Hour)
	if err := l.Append(ctx, batch[:1]); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{key, l.StreamKey(audit.Stream{Account: 1})} {
		if n := srv.Client.XLen(ctx, k).Val(); n > 200 {
			t.Fatalf("%s: XLEN %d after the retention passed: not trimmed", k, n)
		}
	}
}

// The two streams of an event are under hash tags: the account's {a<id>}, the user's
// {u<id>}, the tag of the user's other records.
func TestAuditKeysUseHashTags(t *testing.T) {
	l := NewAuditLog(nil, "ag:", 0, nil)
	if k := l.StreamKey(audit.Stream{Account: 7}); k != "ag:{a7}:audit" {
		t.Fatal(k)
	}
	if k, want := l.StreamKey(audit.Stream{User: 9}), (names{"ag:"}).sessionsOf(9); k[:len("ag:{u9}")] != want[:len("ag:{u9}")] {
		t.Fatalf("%s is not in the slot of %s", k, want)
	}
}

// On a Cluster the two streams of an event are usually in different slots: the batch's
// pipeline is split by node (never a MULTI), and every stream still reads back whole.
func TestAuditConformanceOnCluster(t *testing.T) {
	srv := redistest.StartCluster(t)
	var n atomic.Int64
	storetest.AuditStore(t, func(_ *testing.T, c clock.Clock) audit.Store {
		return NewAuditLog(srv.Client, fmt.Sprintf("%sc%d:", srv.Prefix, n.Add(1)), 0, c)
	})
}
