package keymeter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redistest"
)

// start is where every test's fake clock begins: on the hour, a Tuesday in 2026.
var start = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// newMeterFunc makes an independent meter on clk.
type newMeterFunc func(t *testing.T, clk clock.Clock) Meter

func memoryMeters(t *testing.T) newMeterFunc {
	return func(t *testing.T, clk clock.Clock) Meter { return NewMemory(clk, 100) }
}

// redisMeters gives each meter its own prefix on one Redis (a cluster under make
// test-cluster), so that subtests share a server but no keys.
func redisMeters(t *testing.T) newMeterFunc {
	s := redistest.Start(t)
	var n atomic.Int64
	return func(t *testing.T, clk clock.Clock) Meter {
		return NewRedis(s.Client, fmt.Sprintf("%sm%d:", s.Prefix, n.Add(1)), clk)
	}
}

// leasedMeters are Leased meters on redisMeters: one replica's leases give the exact
// meter's answers.
func leasedMeters(t *testing.T) newMeterFunc {
	redis := redisMeters(t)
	return func(t *testing.T, clk clock.Clock) Meter {
		m := NewLeased(redis(t, clk).(*Redis), LeaseOptions{})
		t.Cleanup(func() {
			if err := m.Close(context.Background()); err != nil {
				t.Error(err)
			}
		})
		return m
	}
}

func TestLeasedConformance(t *testing.T) { runConformance(t, leasedMeters(t)) }
func TestMemoryConformance(t *testing.T) { runConformance(t, memoryMeters(t)) }
func TestRedisConformance(t *testing.T)  { runConformance(t, redisMeters(t)) }

func runConformance(t *testing.T, newMeter newMeterFunc) {
	for _, tt := range conformanceTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewFake(start)
			tt.run(t, newMeter(t, clk), clk)
		})
	}
}

func take(t testing.TB, m Meter, id int64, l Limits) Decision {
	t.Helper()
	d, err := m.Take(t.Context(), id, l)
	if err != nil {
		t.Fatalf("Take(%d, %+v): %v", id, l, err)
	}
	return d
}

func usage(t *testing.T, m Meter, id int64, l Limits, since time.Time) Usage {
	t.Helper()
	u, err := m.Usage(t.Context(), id, l, since)
	if err != nil {
		t.Fatalf("Usage(%d): %v", id, err)
	}
	return u
}

func want(t *testing.T, what string, got, wanted Decision) {
	t.Helper()
	if got != wanted {
		t.Fatalf("%s: got %+v, want %+v", what, got, wanted)
	}
}

func hoursEqual(t *testing.T, got, wanted []Hour) {
	t.Helper()
	if len(got) != len(wanted) {
		t.Fatalf("hours: got %v, want %v", got, wanted)
	}
	for i := range got {
		if !got[i].Start.Equal(wanted[i].Start) || got[i].Start.Location() != time.UTC ||
			got[i].Allowed != wanted[i].Allowed || got[i].Refused != wanted[i].Refused {
			t.Fatalf("hours: got %v, want %v", got, wanted)
		}
	}
}

var allowed = func(rem int64) Decision { return Decision{Remaining: rem} }

var conformanceTests = []struct {
	name string
	run  func(t *testing.T, m Meter, clk *clock.Fake)
}{
	{"rate limit refuses after the burst, with RetryAfter", func(t *testing.T, m Meter, clk *clock.Fake) {
		l := Limits{Rate: 10, Period: time.Second, Burst: 3} // one every 100ms, 3 at once
		for i := range 3 {
			want(t, fmt.Sprint("burst ", i), take(t, m, 1, l), allowed(-1))
		}
		want(t, "past burst", take(t, m, 1, l), Decision{Limited: true, RetryAfter: 100 * time.Millisecond, Remaining: -1})
		clk.Advance(40 * time.Millisecond)
		want(t, "still limited", take(t, m, 1, l), Decision{Limited: true, RetryAfter: 60 * time.Millisecond, Remaining: -1})
		clk.Advance(60 * time.Millisecond)
		want(t, "one refilled", take(t, m, 1, l), allowed(-1))
		want(t, "only one", take(t, m, 1, l), Decision{Limited: true, RetryAfter: 100 * time.Millisecond, Remaining: -1})
		// Another key has its own bucket; Burst 0 means Rate.
		for i := range 10 {
			want(t, fmt.Sprint("other key ", i), take(t, m, 2, Limits{Rate: 10, Period: time.Minute}), allowed(-1))
		}
		want(t, "other key limited", take(t, m, 2, Limits{Rate: 10, Period: time.Minute}), Decision{Limited: true, RetryAfter: 6 * time.Second, Remaining: -1})
	}},
	{"rate limit refills over time, up to the burst", func(t *testing.T, m Meter, clk *clock.Fake) {
		l := Limits{Rate: 2, Period: time.Minute, Burst: 2}
		take(t, m, 1, l)
		take(t, m, 1, l)
		if take(t, m, 1, l).Allowed() {
			t.Fatal("third request within the burst allowed")
		}
		clk.Advance(time.Hour) // long idle: the bucket holds only the burst
		for i := range 2 {
			want(t, fmt.Sprint("after idle ", i), take(t, m, 1, l), allowed(-1))
		}
		want(t, "burst again", take(t, m, 1, l), Decision{Limited: true, RetryAfter: 30 * time.Second, Remaining: -1})
		// Steady traffic at the rate is always allowed.
		for i := range 10 {
			clk.Advance(30 * time.Second)
			want(t, fmt.Sprint("steady ", i), take(t, m, 1, l), allowed(-1))
		}
	}},
	{"rate of a period that does not divide: never more than Rate per Period", func(t *testing.T, m Meter, clk *clock.Fake) {
		l := Limits{Rate: 3, Period: time.Second, Burst: 1} // 333333.33µs: rounded up
		n := 0
		for range 1000 {
			if take(t, m, 1, l).Allowed() {
				n++
			}
			clk.Advance(10 * time.Millisecond) // 10 s in all
		}
		if n != 30 {
			t.Fatalf("%d allowed in 10 s at 3/s, want 30", n)
		}
	}},
	{"quota spends to 0, then QuotaExceeded, forever without a period", func(t *testing.T, m Meter, clk *clock.Fake) {
		l := Limits{Quota: 3}
		for i := int64(2); i >= 0; i-- {
			want(t, "spending", take(t, m, 1, l), allowed(i))
		}
		want(t, "spent", take(t, m, 1, l), Decision{QuotaExceeded: true, Remaining: 0})
		clk.Advance(400 * 24 * time.Hour)
		want(t, "still spent a year later", take(t, m, 1, l), Decision{QuotaExceeded: true, Remaining: 0})
		if u := usage(t, m, 1, l, time.Time{}); u.QuotaRemaining != 0 {
			t.Fatalf("QuotaRemaining %d, want 0", u.QuotaRemaining)
		}
		// Raising the quota gives the difference.
		want(t, "raised", take(t, m, 1, Limits{Quota: 5}), allowed(1))
	}},
	{"a refused request spends no quota, and a spent quota costs no rate token", func(t *testing.T, m Meter, clk *clock.Fake) {
		l := Limits{Rate: 1, Period: time.Minute, Quota: 2}
		want(t, "first", take(t, m, 1, l), allowed(1))
		for range 5 {
			want(t, "limited", take(t, m, 1, l), Decision{Limited: true, RetryAfter: time.Minute, Remaining: 1})
		}
		clk.Advance(time.Minute)
		want(t, "second", take(t, m, 1, l), allowed(0))
		want(t, "spent", take(t, m, 1, l), Decision{QuotaExceeded: true, Remaining: 0})
		clk.Advance(time.Minute)
		if err := m.ResetQuota(t.Context(), 1, l); err != nil {
			t.Fatal(err)
		}
		// The refusal above for the quota took no token, so the bucket is full.
		want(t, "after reset", take(t, m, 1, l), allowed(1))
	}},
	{"quota refills each window, aligned to the epoch", func(t *testing.T, m Meter, clk *clock.Fake) {
		l := Limits{Quota: 2, QuotaPeriod: time.Hour}
		clk.Set(start.Add(59*time.Minute + 30*time.Second))
		want(t, "first", take(t, m, 1, l), allowed(1))
		want(t, "second", take(t, m, 1, l), allowed(0))
		want(t, "spent", take(t, m, 1, l), Decision{QuotaExceeded: true, RetryAfter: 30 * time.Second, Remaining: 0})
		clk.Advance(29 * time.Second)
		want(t, "spent, 1s before", take(t, m, 1, l), Decision{QuotaExceeded: true, RetryAfter: time.Second, Remaining: 0})
		if u := usage(t, m, 1, l, time.Time{}); u.QuotaRemaining != 0 {
			t.Fatalf("QuotaRemaining %d before the refill, want 0", u.QuotaRemaining)
		}
		clk.Advance(time.Second)
		if u := usage(t, m, 1, l, time.Time{}); u.QuotaRemaining != 2 {
			t.Fatalf("QuotaRemaining %d after the refill, want 2", u.QuotaRemaining)
		}
		want(t, "refilled", take(t, m, 1, l), allowed(1))
		clk.Advance(3 * time.Hour) // windows skipped: full again
		want(t, "later window", take(t, m, 1, l), allowed(1))
		// A day's quota starts again at 00:00 UTC.
		d := Limits{Quota: 1, QuotaPeriod: 24 * time.Hour}
		clk.Set(time.Date(2026, 3, 11, 23, 0, 0, 0, time.UTC))
		take(t, m, 2, d)
		want(t, "daily spent", take(t, m, 2, d), Decision{QuotaExceeded: true, RetryAfter: time.Hour, Remaining: 0})
	}},
	{"usage counts per hour, refused too, and lastUsed", func(t *testing.T, m Meter, clk *clock.Fake) {
		l := Limits{Rate: 2, Period: time.Hour, Burst: 2}
		if u := usage(t, m, 1, l, time.Time{}); len(u.Hours) != 0 || !u.LastUsed.IsZero() || u.QuotaRemaining != -1 {
			t.Fatalf("unused key: %+v", u)
		}
		clk.Advance(10 * time.Minute)
		for range 5 { // 2 allowed, 3 refused
			take(t, m, 1, l)
		}
		clk.Advance(2*time.Hour + 123456789*time.Nanosecond) // the hour after next
		take(t, m, 1, l)
		last := clk.Now()
		take(t, m, 2, l) // another key's usage is its own
		u := usage(t, m, 1, l, time.Time{})
		hoursEqual(t, u.Hours, []Hour{
			{Start: start, Allowed: 2, Refused: 3},
			{Start: start.Add(2 * time.Hour), Allowed: 1},
		})
		if !u.LastUsed.Equal(last.Truncate(time.Millisecond)) || u.LastUsed.Location() != time.UTC {
			t.Fatalf("LastUsed %v, want %v (to the millisecond, UTC)", u.LastUsed, last)
		}
		// since keeps the hours that end after it.
		u = usage(t, m, 1, l, start.Add(2*time.Hour+59*time.Minute))
		hoursEqual(t, u.Hours, []Hour{{Start: start.Add(2 * time.Hour), Allowed: 1}})
		u = usage(t, m, 1, l, start.Add(3*time.Hour))
		hoursEqual(t, u.Hours, nil)
		// A refused request updates lastUsed too.
		clk.Advance(time.Minute)
		take(t, m, 1, l)
		take(t, m, 1, l)
		if d := take(t, m, 1, l); d.Allowed() {
			t.Fatalf("burst of 2 let a third through: %+v", d)
		}
		if u := usage(t, m, 1, l, time.Time{}); !u.LastUsed.Equal(clk.Now().Truncate(time.Millisecond)) {
			t.Fatalf("LastUsed %v after a refusal at %v", u.LastUsed, clk.Now())
		}
	}},
	{"hours older than 30 days are gone", func(t *testing.T, m Meter, clk *clock.Fake) {
		var l Limits
		take(t, m, 1, l) // at start
		clk.Advance(29 * 24 * time.Hour)
		take(t, m, 1, l)
		take(t, m, 1, l)
		clk.Advance(24*time.Hour - time.Second) // start's hour is the oldest of the last 720
		hoursEqual(t, usage(t, m, 1, l, time.Time{}).Hours, []Hour{
			{Start: start, Allowed: 1},
			{Start: start.Add(29 * 24 * time.Hour), Allowed: 2},
		})
		clk.Advance(time.Second) // start's hour leaves
		hoursEqual(t, usage(t, m, 1, l, time.Time{}).Hours, []Hour{
			{Start: start.Add(29 * 24 * time.Hour), Allowed: 2},
		})
		// 31 days after the first request, its day's storage is reused: the old counts do
		// not come back into the new day.
		clk.Set(start.Add(31 * 24 * time.Hour))
		take(t, m, 1, l)
		hoursEqual(t, usage(t, m, 1, l, time.Time{}).Hours, []Hour{
			{Start: start.Add(29 * 24 * time.Hour), Allowed: 2},
			{Start: start.Add(31 * 24 * time.Hour), Allowed: 1},
		})
		// Every hour of 40 days: at most 720 are kept and shown.
		for range 40 * 24 {
			clk.Advance(time.Hour)
			take(t, m, 3, l)
		}
		u := usage(t, m, 3, l, time.Time{})
		if len(u.Hours) != RetentionHours {
			t.Fatalf("%d hours kept, want %d", len(u.Hours), RetentionHours)
		}
		if first, cur := u.Hours[0].Start, clk.Now().Truncate(time.Hour); !first.Equal(cur.Add(-(RetentionHours - 1) * time.Hour)) {
			t.Fatalf("oldest hour %v, now %v", first, cur)
		}
	}},
	{"Forget deletes the key's meters and usage, and the key stays gone", func(t *testing.T, m Meter, clk *clock.Fake) {
		l := Limits{Rate: 1, Period: time.Hour, Quota: 5}
		take(t, m, 1, l)
		take(t, m, 2, l)
		if err := m.Forget(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		u := usage(t, m, 1, l, time.Time{})
		if len(u.Hours) != 0 || !u.LastUsed.IsZero() || u.QuotaRemaining != 5 {
			t.Fatalf("after Forget: %+v", u)
		}
		// Ids are never reused: a forgotten key is not metered again, and nothing it does is
		// stored (its requests are answered as a key without limits would be).
		for i := range 3 {
			want(t, fmt.Sprint("gone after Forget ", i), take(t, m, 1, l), allowed(-1))
		}
		if err := m.ResetQuota(t.Context(), 1, l); err != nil {
			t.Fatal(err)
		}
		clk.Advance(2 * time.Hour) // past a lease's TTL and a flush
		want(t, "still gone", take(t, m, 1, Limits{}), allowed(-1))
		if u := usage(t, m, 1, l, time.Time{}); len(u.Hours) != 0 || !u.LastUsed.IsZero() || u.QuotaRemaining != 5 {
			t.Fatalf("a forgotten key's requests were stored: %+v", u)
		}
		if u := usage(t, m, 2, l, time.Time{}); len(u.Hours) != 1 || u.QuotaRemaining != 4 {
			t.Fatalf("Forget touched another key: %+v", u)
		}
		want(t, "another key still metered", take(t, m, 2, l), allowed(3))
		if err := m.Forget(t.Context(), 99); err != nil {
			t.Fatalf("Forget of an unknown key: %v", err)
		}
		if err := m.Forget(t.Context(), 1); err != nil {
			t.Fatalf("Forget twice: %v", err)
		}
	}},
	{"ResetQuota gives the quota back in full", func(t *testing.T, m Meter, clk *clock.Fake) {
		l := Limits{Quota: 3, QuotaPeriod: 24 * time.Hour}
		for range 4 {
			take(t, m, 1, l)
		}
		if err := m.ResetQuota(t.Context(), 1, l); err != nil {
			t.Fatal(err)
		}
		if u := usage(t, m, 1, l, time.Time{}); u.QuotaRemaining != 3 {
			t.Fatalf("QuotaRemaining %d after reset, want 3", u.QuotaRemaining)
		}
		want(t, "after reset", take(t, m, 1, l), allowed(2))
		// Usage still shows what happened: 3 allowed and 1 refused, then 1.
		hoursEqual(t, usage(t, m, 1, l, time.Time{}).Hours, []Hour{{Start: start, Allowed: 4, Refused: 1}})
		// Resetting a key never used is allowed, and leaves it full.
		if err := m.ResetQuota(t.Context(), 2, l); err != nil {
			t.Fatal(err)
		}
		want(t, "new key", take(t, m, 2, l), allowed(2))
	}},
	{"concurrent Takes allow exactly the quota", func(t *testing.T, m Meter, clk *clock.Fake) {
		const workers, each, quota = 50, 20, 300
		l := Limits{Quota: quota, Rate: 1_000_000, Period: time.Second} // rate on too: both atomic
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				for range each {
					d, err := m.Take(context.Background(), 1, l)
					if err != nil {
						errs <- err
						return
					}
					if d.Allowed() {
						ok.Add(1)
					} else if d.QuotaExceeded {
						refused.Add(1)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if ok.Load() != quota || refused.Load() != workers*each-quota {
			t.Fatalf("%d allowed and %d over quota of %d requests, want %d and %d", ok.Load(), refused.Load(), workers*each, quota, workers*each-quota)
		}
		hoursEqual(t, usage(t, m, 1, l, time.Time{}).Hours, []Hour{{Start: start, Allowed: quota, Refused: workers*each - quota}})
	}},
	{"invalid limits are refused", func(t *testing.T, m Meter, clk *clock.Fake) {
		for _, l := range []Limits{
			{Rate: -1, Period: time.Second},
			{Rate: 1},
			{Burst: 3},
			{Quota: -1},
			{QuotaPeriod: time.Hour},
			{Rate: 1, Period: time.Hour, Burst: 1 << 40},
		} {
			if _, err := m.Take(t.Context(), 1, l); !errors.Is(err, ErrInvalidLimits) {
				t.Errorf("Take with %+v: %v, want ErrInvalidLimits", l, err)
			}
		}
		if u := usage(t, m, 1, Limits{}, time.Time{}); len(u.Hours) != 0 {
			t.Fatalf("a refused call was counted: %+v", u)
		}
	}},
}
