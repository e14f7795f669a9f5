package ratelimit

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/clock"
)

func newMemoryEnv(t *testing.T, rules map[string]Limit) env {
	c := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	m, err := NewMemory(c, rules, 0)
	if err != nil {
		t.Fatal(err)
	}
	return env{lim: m, wait: c.Advance}
}

func TestMemoryConformance(t *testing.T) { runConformance(t, newMemoryEnv) }

func newMemory(t *testing.T, c clock.Clock, rules map[string]Limit, maxKeys int) *MemoryLimiter {
	t.Helper()
	m, err := NewMemory(c, rules, maxKeys)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMemoryBounded(t *testing.T) {
	m := newMemory(t, clock.NewFake(time.Now()), oneRule(Limit{Rate: 1, Burst: 1, Period: time.Hour}), 100)
	for i := range 10_000 {
		mustAllow(t, m, testRule, fmt.Sprint("spray", i))
		if n := m.Len(); n > 100 {
			t.Fatalf("after %d keys the limiter holds %d buckets, want at most 100", i+1, n)
		}
	}
}

// A key in active use is the most recently used one, so a spray of other keys does not
// evict it: its attacker stays limited.
func TestMemoryEvictionSparesActiveKey(t *testing.T) {
	m := newMemory(t, clock.NewFake(time.Now()), oneRule(Limit{Rate: 3, Burst: 3, Period: time.Hour}), 100)
	exhaust(t, m, testRule, "attacker")
	for i := range 5000 {
		mustAllow(t, m, testRule, fmt.Sprint("spray", i))
		if i%50 == 0 && mustAllow(t, m, testRule, "attacker").Allowed {
			t.Fatalf("the attacker's key was forgotten after %d sprayed keys", i+1)
		}
	}
}

// Buckets that have refilled are dropped as other keys are used, so memory follows the keys
// in use, not every key ever seen.
func TestMemorySweepsRefilledBuckets(t *testing.T) {
	c := clock.NewFake(time.Now())
	m := newMemory(t, c, oneRule(Limit{Rate: 1, Burst: 2, Period: time.Minute}), 0)
	for i := range 100 {
		mustAllow(t, m, testRule, fmt.Sprint("k", i))
	}
	if n := m.Len(); n != 100 {
		t.Fatalf("Len = %d, want 100", n)
	}
	c.Advance(time.Minute + time.Second) // every bucket is full again
	for range 60 {
		mustAllow(t, m, testRule, "active")
	}
	if n := m.Len(); n != 1 {
		t.Errorf("Len after the others refilled = %d, want 1 (the active key)", n)
	}
	// Peek of an unknown key makes no bucket.
	mustPeek(t, m, testRule, "never used")
	if n := m.Len(); n != 1 {
		t.Errorf("Len after Peek of an unknown key = %d, want 1", n)
	}
}

// TestMemoryEntrySize measures what one bucket costs, which DefaultMaxKeys's comment quotes.
func TestMemoryEntrySize(t *testing.T) {
	const n = 20_000
	m := newMemory(t, clock.NewFake(time.Now()), oneRule(Limit{Rate: 1, Burst: 1, Period: time.Hour}), n)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprint("user-", i)
	}
	before := heapAlloc()
	for _, k := range keys {
		mustAllow(t, m, testRule, k)
	}
	per := (heapAlloc() - before) / n
	t.Logf("%d bytes per bucket; %d MB at DefaultMaxKeys", per, per*DefaultMaxKeys>>20)
	if per > 400 {
		t.Errorf("%d bytes per bucket, more than DefaultMaxKeys's comment allows", per)
	}
	runtime.KeepAlive(m)
}

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
