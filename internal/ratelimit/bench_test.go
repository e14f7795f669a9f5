package ratelimit

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redistest"
)

// The benchmarks spread attempts over many keys with a high limit, as production traffic
// does, so that they measure bookkeeping rather than refusals.

var benchRules = map[string]Limit{testRule: {Rate: 1 << 30, Burst: 1 << 30, Period: time.Hour}}

func benchAllow(b *testing.B, lim Limiter) {
	ctx := context.Background()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "198.51.100." + strconv.Itoa(i)
	}
	i := 0
	for b.Loop() {
		if _, err := lim.Allow(ctx, testRule, keys[i%len(keys)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMemoryAllow(b *testing.B) {
	m, err := NewMemory(clock.Real{}, benchRules, 0)
	if err != nil {
		b.Fatal(err)
	}
	benchAllow(b, m)
}

func BenchmarkRedisAllow(b *testing.B) {
	srv := redistest.Start(b)
	r, err := NewRedis(srv.Client, srv.Prefix, benchRules)
	if err != nil {
		b.Fatal(err)
	}
	benchAllow(b, r)
}

// BenchmarkRedisCheckLogin is the limiter's part of a login: three round trips.
func BenchmarkRedisCheckLogin(b *testing.B) {
	srv := redistest.Start(b)
	r, err := NewRedis(srv.Client, srv.Prefix, map[string]Limit{RuleLoginIP: benchRules[testRule]})
	if err != nil {
		b.Fatal(err)
	}
	p := NewPolicy(r)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if err := p.CheckLogin(ctx, "198.51.100.7", Username("user"+strconv.Itoa(i%1024))); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
