package keymeter

import (
	"context"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redistest"
)

// replicas are n Leased meters on one Redis and one clock, as n server processes would be,
// each on a client that counts its round trips.
type replicas struct {
	ms    []*Leased
	trips atomic.Int64
	o     LeaseOptions
}

func newReplicas(t *testing.T, n int, clk clock.Clock, o LeaseOptions) *replicas {
	s := redistest.Start(t)
	rs := &replicas{o: o}
	for range n {
		c := s.NewClient(nil)
		c.AddHook(countTrips{&rs.trips})
		m := NewLeased(NewRedis(c, s.Prefix, clk), o)
		t.Cleanup(func() { _ = m.Close(context.Background()) })
		rs.ms = append(rs.ms, m)
	}
	return rs
}

// countTrips counts round trips: one per command, one per pipeline.
type countTrips struct{ n *atomic.Int64 }

func (countTrips) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (c countTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c countTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// Across replicas, a quota is never exceeded: requests are granted in Redis before they are
// used. Requests leased but unused are kept from the others only until their lease expires.
func TestLeasedQuotaIsExactAcrossReplicas(t *testing.T) {
	clk := clock.NewFake(start)
	rs := newReplicas(t, 3, clk, LeaseOptions{FlushEvery: time.Hour})
	const quota, workers, each = 3000, 48, 100
	l := Limits{Quota: quota, Rate: 1 << 20, Period: time.Second}
	var allowed, refused atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			m := rs.ms[w%len(rs.ms)]
			for range each {
				d, err := m.Take(context.Background(), 1, l)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed() {
					allowed.Add(1)
				} else {
					refused.Add(1)
				}
			}
		})
	}
	wg.Wait()
	stranded := int64(len(rs.ms) * rs.o.withDefaults().MaxLease)
	if a := allowed.Load(); a > quota || a < quota-stranded {
		t.Fatalf("%d allowed of a quota of %d: over, or more than the %d the leases may strand", a, quota, stranded)
	}
	// When the leases expire, what they held comes back: the quota is spent exactly.
	clk.Advance(rs.o.withDefaults().TTL)
	for _, m := range rs.ms {
		for {
			d, err := m.Take(t.Context(), 1, l)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Allowed() {
				if !d.QuotaExceeded || d.Remaining != 0 {
					t.Fatalf("refusal %+v, want QuotaExceeded", d)
				}
				refused.Add(1)
				break
			}
			allowed.Add(1)
		}
	}
	if allowed.Load() != quota {
		t.Fatalf("%d allowed in all, quota %d", allowed.Load(), quota)
	}
	// Usage, written by every replica, counts every request.
	for _, m := range rs.ms {
		if err := m.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	u := usage(t, rs.ms[0], 1, l, time.Time{})
	hoursEqual(t, u.Hours, []Hour{{Start: start, Allowed: quota, Refused: refused.Load()}})
	if u.QuotaRemaining != 0 {
		t.Fatalf("QuotaRemaining %d", u.QuotaRemaining)
	}
}

// Across replicas, the rate limit holds to within the requests of one TTL: a request granted
// at t is charged to the shared bucket at t and used before t+TTL, so in any span w at most
// Burst + (w+TTL)/interval are allowed. And leases strand little: the replicas together get
// close to the rate.
func TestLeasedRateBoundAcrossReplicas(t *testing.T) {
	clk := clock.NewFake(start)
	o := LeaseOptions{TTL: 500 * time.Millisecond, FlushEvery: time.Hour}
	rs := newReplicas(t, 3, clk, o)
	l := Limits{Rate: 100, Period: time.Second, Burst: 40} // one every 10ms
	const step, span = 2 * time.Millisecond, 20 * time.Second
	var times []time.Duration // of allowed requests, since start
	for at := time.Duration(0); at < span; at += step {
		for i, m := range rs.ms {
			for range 1 + i { // replicas of unequal load, 12 requests per 10ms in all
				d, err := m.Take(t.Context(), 1, l)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed() {
					times = append(times, at)
				} else if !d.Limited || d.RetryAfter <= 0 {
					t.Fatalf("refusal %+v", d)
				}
			}
		}
		clk.Advance(step)
	}
	iv := l.Period / time.Duration(l.Rate)
	for _, w := range []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second, 5 * time.Second, span} {
		bound := l.Burst + int((w+o.TTL)/iv)
		worst := 0
		for i, j := 0, 0; j < len(times); j++ {
			for times[j]-times[i] >= w {
				i++
			}
			worst = max(worst, j-i+1)
		}
		if worst > bound {
			t.Errorf("%d allowed within %v, bound %d", worst, w, bound)
		}
	}
	exact := l.Burst + int(span/iv)
	if len(times) < exact*9/10 || len(times) > exact+int(o.TTL/iv) {
		t.Errorf("%d allowed in %v; the limit alone would allow %d", len(times), span, exact)
	}
	t.Logf("%d allowed in %v (limit alone: %d), %d round trips for %d requests", len(times), span, exact, rs.trips.Load(), int(span/step)*6)
}

// A busy key costs a round trip per lease, not per request.
func TestLeasedRoundTrips(t *testing.T) {
	clk := clock.NewFake(start)
	rs := newReplicas(t, 1, clk, LeaseOptions{FlushEvery: time.Hour})
	l := Limits{Rate: 1 << 20, Period: time.Second, Quota: 1 << 40, QuotaPeriod: 24 * time.Hour}
	const n = 10_000
	for i := range n {
		if d := take(t, rs.ms[0], 1, l); !d.Allowed() {
			t.Fatalf("request %d refused: %+v", i, d)
		}
		clk.Advance(50 * time.Microsecond) // 20k requests/s
	}
	trips := rs.trips.Load()
	if perTake := float64(trips) / n; perTake > 1.0/32 {
		t.Fatalf("%d round trips for %d requests", trips, n)
	}
	// Keys without limits cost none until the flush.
	before := rs.trips.Load()
	for range 1000 {
		take(t, rs.ms[0], 2, Limits{})
	}
	if rs.trips.Load() != before {
		t.Fatalf("%d round trips for requests of a key without limits", rs.trips.Load()-before)
	}
	if err := rs.ms[0].Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if u := usage(t, rs.ms[0].r, 2, Limits{}, time.Time{}); len(u.Hours) != 1 || u.Hours[0].Allowed != 1000 {
		t.Fatalf("after Flush, Redis holds %+v", u)
	}
}

// Leased holds at most MaxKeys keys; more are metered exactly, a round trip each, and keys
// idle for two TTLs with nothing held are let go by the flush.
func TestLeasedIsBounded(t *testing.T) {
	clk := clock.NewFake(start)
	rs := newReplicas(t, 1, clk, LeaseOptions{MaxKeys: 2, FlushEvery: time.Hour})
	m := rs.ms[0]
	l := Limits{Quota: 100}
	for id := range int64(3) {
		for i := range int64(10) {
			want(t, "take", take(t, m, id, l), allowed(100-1-i))
		}
	}
	if m.Len() != 2 {
		t.Fatalf("%d keys held, bound 2", m.Len())
	}
	before := rs.trips.Load()
	take(t, m, 2, l)
	if rs.trips.Load() != before+1 {
		t.Fatal("a key beyond MaxKeys was not metered by a round trip")
	}
	clk.Advance(3 * rs.o.withDefaults().TTL)
	if err := m.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 0 {
		t.Fatalf("%d idle keys still held after the flush", m.Len())
	}
	for id := range int64(3) {
		n := int64(10)
		if id == 2 {
			n = 11
		}
		if u := usage(t, m, id, l, time.Time{}); u.QuotaRemaining != 100-n || len(u.Hours) != 1 || u.Hours[0].Allowed != n {
			t.Fatalf("key %d: %+v", id, u)
		}
	}
}

// Under concurrent Takes, a flusher that runs all the time and sweeps idle keys, and two
// replicas, every request is counted once in Redis and no quota is exceeded.
func TestLeasedCountsEveryRequestUnderFlushes(t *testing.T) {
	rs := newReplicas(t, 2, clock.Real{}, LeaseOptions{TTL: 3 * time.Millisecond, FlushEvery: time.Millisecond, MaxLease: 8})
	const keys, workers, each, quota = 12, 8, 400, 500
	l := Limits{Quota: quota, QuotaPeriod: 24 * time.Hour, Rate: 1 << 20, Period: time.Second}
	var allowed [keys]atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			m := rs.ms[w%2]
			for i := range each {
				id := int64((w*7 + i*i) % keys)
				d, err := m.Take(context.Background(), id, l)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed() {
					allowed[id].Add(1)
				}
				if i%50 == 0 {
					time.Sleep(10 * time.Millisecond) // long enough for the sweep to let keys go
				}
			}
		})
	}
	wg.Wait()
	for _, m := range rs.ms {
		if err := m.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	var total int64
	for id := range int64(keys) {
		u := usage(t, rs.ms[0].r, id, l, time.Time{})
		var a int64
		for _, h := range u.Hours {
			a += h.Allowed
			total += h.Allowed + h.Refused
		}
		if a != allowed[id].Load() || a > quota {
			t.Errorf("key %d: Redis counted %d allowed, the replicas allowed %d (quota %d)", id, a, allowed[id].Load(), quota)
		}
	}
	if total != workers*each {
		t.Fatalf("Redis counted %d requests, %d were made", total, workers*each)
	}
}

// A key deleted on one replica while another holds a lease and usage of it: the other's
// later Takes and flushes store nothing, so that nothing of the key is left in Redis but
// Forget's marker, which expires.
func TestLeasedForgetOnAnotherReplicaLeavesOnlyTheMarker(t *testing.T) {
	clk := clock.NewFake(start)
	rs := newReplicas(t, 2, clk, LeaseOptions{FlushEvery: time.Hour}) // flushed by hand below
	a, b := rs.ms[0], rs.ms[1]
	limited := Limits{Rate: 1000, Period: time.Second, Quota: 1 << 30, QuotaPeriod: 24 * time.Hour}
	for range 20 { // key 1: B holds a lease and unflushed usage
		if d := take(t, b, 1, limited); !d.Allowed() {
			t.Fatalf("refused: %+v", d)
		}
	}
	for range 5 { // key 2, without limits: B holds only usage, never sent until a flush
		take(t, b, 2, Limits{})
	}
	b.mu.Lock()
	held := b.keys[1].granted > 0 && len(b.keys[1].pending) > 0 && len(b.keys[2].pending) > 0
	b.mu.Unlock()
	if !held {
		t.Fatal("B holds no lease or no usage to flush: the test would prove nothing")
	}
	for _, id := range []int64{1, 2} {
		if err := a.Forget(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	// B, whose cache still authenticates the keys, keeps taking (from its lease, which it
	// does not know is void), then its lease expires and it flushes (returning the lease's
	// unused requests, writing its counts).
	for range 10 {
		if d := take(t, b, 1, limited); !d.Allowed() {
			t.Fatalf("B after Forget, key 1: %+v", d)
		}
		want(t, "B after Forget, key 2", take(t, b, 2, Limits{}), allowed(-1))
	}
	clk.Advance(rs.o.withDefaults().TTL)
	if err := b.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	want(t, "B after the flush", take(t, b, 1, limited), allowed(-1))
	if err := b.ResetQuota(t.Context(), 1, limited); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, err := redistest.Keys(t.Context(), b.r.rdb, b.r.prefix+"*")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if wanted := []string{b.r.goneKey(1), b.r.goneKey(2)}; !slices.Equal(got, wanted) {
		t.Fatalf("keys left in Redis %v, want only the markers %v", got, wanted)
	}
	for _, k := range got {
		if ttl, err := b.r.rdb.TTL(t.Context(), k).Result(); err != nil || ttl <= GoneTTL-time.Minute || ttl > GoneTTL {
			t.Fatalf("%s has TTL %v (%v), want %v", k, ttl, err, GoneTTL)
		}
	}
}
