package apq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/redistest"
)

func hashOf(q string) string {
	b := sha256.Sum256([]byte(q))
	return hex.EncodeToString(b[:])
}

func TestStoreKeepsOnlyRegisteredQueries(t *testing.T) {
	ctx := context.Background()
	var seen []string
	s := NewMemory(10, func(r string) { seen = append(seen, r) })
	q := "{ version }"
	h := hashOf(q)

	if _, ok := s.Reader().Get(ctx, h); ok {
		t.Fatal("hit before anything was registered")
	}
	s.Reader().Add(ctx, h, q) // gqlgen's own store, before validation: ignored
	if _, ok := s.Reader().Get(ctx, h); ok {
		t.Fatal("the reader stored a query")
	}
	s.Register(ctx, h, q)
	if got, ok := s.Reader().Get(ctx, h); !ok || got != q {
		t.Fatalf("Get = %q, %v", got, ok)
	}
	if strings.Join(seen, ",") != "miss,miss,store,hit" {
		t.Fatalf("observed %v", seen)
	}
}

func TestStoreRefusesOddHashesAndHugeQueries(t *testing.T) {
	ctx := context.Background()
	s := NewMemory(10, nil)
	huge := "{ version }" + strings.Repeat(" ", MaxQueryBytes)
	s.Register(ctx, hashOf(huge), huge)
	if _, ok := s.Reader().Get(ctx, hashOf(huge)); ok {
		t.Fatal("a query over MaxQueryBytes was kept")
	}
	for _, h := range []string{"", "abc", strings.Repeat("G", 64), strings.ToUpper(hashOf("{ version }")), hashOf("x") + "0"} {
		s.Register(ctx, h, "{ version }")
		if _, ok := s.Reader().Get(ctx, h); ok {
			t.Fatalf("hash %q was accepted", h)
		}
	}
}

func TestRedisBackendSharesAndExpires(t *testing.T) {
	rs := redistest.Start(t)
	ctx := context.Background()
	q := "{ me { id } }"
	h := hashOf(q)
	a := New(NewRedis(rs.NewClient(nil), rs.Prefix, time.Hour, nil), nil)
	b := New(NewRedis(rs.NewClient(nil), rs.Prefix, time.Hour, nil), nil) // another replica
	a.Register(ctx, h, q)
	if got, ok := b.Reader().Get(ctx, h); !ok || got != q {
		t.Fatalf("the other replica got %q, %v", got, ok)
	}
	key := rs.Prefix + "apq:" + h
	if err := rs.Client.Expire(ctx, key, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	b.Reader().Get(ctx, h)
	if ttl := rs.Client.TTL(ctx, key).Val(); ttl < 59*time.Minute {
		t.Fatalf("a hit did not restart the TTL: %v", ttl)
	}
}

func TestRedisFailureIsAMiss(t *testing.T) {
	rs := redistest.Start(t)
	if rs.External {
		t.Skip("needs a private redis-server to stop")
	}
	rdb := rs.NewClient(func(o *redis.Options) {
		o.DialTimeout, o.ReadTimeout, o.MaxRetries = 200*time.Millisecond, 200*time.Millisecond, -1
	})
	var errs int
	s := New(NewRedis(rdb, rs.Prefix, time.Hour, func(error) { errs++ }), nil)
	rs.Stop()
	s.Register(context.Background(), hashOf("{ version }"), "{ version }")
	if _, ok := s.Reader().Get(context.Background(), hashOf("{ version }")); ok {
		t.Fatal("hit with Redis down")
	}
	if errs != 2 {
		t.Fatalf("errors reported: %d, want 2", errs)
	}
}
