package keymeter

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redistest"
)

// Every key of a service key is under its hash tag, so that the script's keys and Forget's
// DEL are in one Cluster slot; and the names are exactly the ones Keys lists.
func TestRedisKeysShareOneSlotUnderThePrefix(t *testing.T) {
	s := redistest.Start(t)
	clk := clock.NewFake(start)
	m := NewRedis(s.Client, s.Prefix, clk)
	if slot("foo") != 12182 || slot("{user1000}.following") != slot("{user1000}.followers") {
		t.Fatal("slot does not compute Redis Cluster's hash slots") // values from the Cluster spec
	}
	for id := range int64(3) {
		names := m.Keys(id)
		if len(names) != DaySlots+2 || names[len(names)-1] != m.goneKey(id) {
			t.Fatalf("%d key names, want %d with Forget's marker last", len(names), DaySlots+2)
		}
		for _, k := range names {
			if !strings.HasPrefix(k, s.Prefix+"{sk") {
				t.Fatalf("key %q is not under the prefix and the hash tag", k)
			}
			if got, want := slot(k), slot(names[0]); got != want {
				t.Fatalf("%q is in slot %d, %q in %d", k, got, names[0], want)
			}
		}
	}
	for range 40 * 24 { // 40 days of traffic: the ring of day hashes bounds the keys
		take(t, m, 7, Limits{Rate: 100, Period: time.Second, Quota: 1 << 40})
		clk.Advance(time.Hour)
	}
	got, err := redistest.Keys(t.Context(), s.Client, s.Prefix+"*")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != DaySlots+1 {
		t.Fatalf("%d keys after 40 days, want %d: %v", len(got), DaySlots+1, got)
	}
	for _, k := range got {
		if !slices.Contains(m.Keys(7), k) {
			t.Fatalf("unexpected key %q", k)
		}
		ttl, err := s.Client.TTL(t.Context(), k).Result()
		if err != nil {
			t.Fatal(err)
		}
		isState := strings.HasSuffix(k, "}:m")
		if isState && ttl != -1 || !isState && (ttl <= 0 || ttl > usageTTL) {
			t.Fatalf("%q has TTL %v: the state has none (a quota may never refill), a day's usage at most %v", k, ttl, usageTTL)
		}
	}
	if err := m.Forget(t.Context(), 7); err != nil {
		t.Fatal(err)
	}
	// Only the marker stays, and only for GoneTTL; a Take after it stores nothing.
	take(t, m, 7, Limits{Rate: 100, Period: time.Second, Quota: 1 << 40})
	if err := m.ResetQuota(t.Context(), 7, Limits{Quota: 1}); err != nil {
		t.Fatal(err)
	}
	onlyMarker(t, s.Client, s.Prefix, m, 7)
}

// onlyMarker fails unless the only Redis key under prefix is id's marker, with a TTL of at
// most GoneTTL.
func onlyMarker(t *testing.T, rdb redis.UniversalClient, prefix string, m *Redis, id int64) {
	t.Helper()
	got, err := redistest.Keys(t.Context(), rdb, prefix+"*")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != m.goneKey(id) {
		t.Fatalf("keys %v, want only %s", got, m.goneKey(id))
	}
	if ttl, err := rdb.TTL(t.Context(), got[0]).Result(); err != nil || ttl <= GoneTTL-time.Minute || ttl > GoneTTL {
		t.Fatalf("the marker's TTL is %v (%v), want %v", ttl, err, GoneTTL)
	}
}

// slot is the Redis Cluster hash slot of key (CRC16 of its hash tag, mod 16384), computed
// here so that the test holds on a single server too.
func slot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for _, b := range []byte(key) {
		crc ^= uint16(b) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}

// A Redis that does not answer is a retryable ErrUnavailable, never a decision.
func TestRedisDownIsUnavailable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Blackhole(t), ReadTimeout: 50 * time.Millisecond, WriteTimeout: 50 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	m := NewRedis(rdb, "", clock.NewFake(start))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if d, err := m.Take(ctx, 1, Limits{Quota: 1}); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Take: %+v, %v; want ErrUnavailable", d, err)
	}
	if _, err := m.Usage(ctx, 1, Limits{}, time.Time{}); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Usage: %v", err)
	}
	if err := m.ResetQuota(ctx, 1, Limits{Quota: 1}); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("ResetQuota: %v", err)
	}
	if err := m.Forget(ctx, 1); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Forget: %v", err)
	}
}
