package keymeter

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/authgraph/authgraph/internal/clock"
)

// The meters are checked against a model under random Takes, clock advances, quota changes,
// ResetQuota and Forget. The model is written differently from both meters: the rate limit
// is a token bucket that refills continuously (GCRA is the same limit, stored as a time), and
// usage is a map of every hour, filtered when read. Forget makes its id gone for good, as a
// deleted service key's (ids come from a sequence): the model then meters a new id in its
// place, and Takes of gone ids must be answered unmetered and store nothing.
func TestRedisMatchesModel(t *testing.T)  { runModel(t, redisMeters(t)) }
func TestMemoryMatchesModel(t *testing.T) { runModel(t, memoryMeters(t)) }

type modelKey struct {
	tokens   int64 // the bucket's level in µs of refill: one request costs an interval
	at       int64 // when tokens was computed (µs); 0: a full bucket
	window   int64 // quota window of used
	used     int64
	hasQuota bool
	hours    map[time.Time][2]int64 // allowed, refused
	last     time.Time
}

type model struct {
	clk    *clock.Fake
	m      Meter
	limits []Limits // by slot
	ids    []int64  // by slot: the slot's current key id
	next   int64    // the next id, never used before
	gone   []int64  // forgotten ids
	keys   map[int64]*modelKey
}

func runModel(t *testing.T, newMeter newMeterFunc) {
	steps := 0
	rapid.Check(t, func(rt *rapid.T) {
		clk := clock.NewFake(start.Add(time.Duration(rapid.Int64Range(0, int64(48*time.Hour)).Draw(rt, "offset")).Truncate(time.Microsecond)))
		md := &model{clk: clk, m: newMeter(t, clk), keys: map[int64]*modelKey{}}
		for slot := range 3 {
			md.limits = append(md.limits, drawLimits(rt, fmt.Sprint("limits", slot)))
			md.ids = append(md.ids, int64(slot))
		}
		md.next = int64(len(md.ids))
		rt.Repeat(map[string]func(*rapid.T){
			"": md.check,
			"take": func(rt *rapid.T) { // a few at once, so that limits are reached
				slot := rapid.IntRange(0, len(md.limits)-1).Draw(rt, "slot")
				for range rapid.IntRange(1, 6).Draw(rt, "takes") {
					steps++
					md.take(rt, slot)
				}
			},
			"takeGone": func(rt *rapid.T) {
				if len(md.gone) == 0 {
					rt.Skip("nothing forgotten yet")
				}
				id := rapid.SampledFrom(md.gone).Draw(rt, "id")
				l := md.limits[rapid.IntRange(0, len(md.limits)-1).Draw(rt, "limitsOf")]
				got, err := md.m.Take(rt.Context(), id, l)
				if err != nil {
					rt.Fatal(err)
				}
				if want := (Decision{Remaining: -1}); got != want {
					rt.Fatalf("Take(%d, %+v) of a forgotten key: got %+v, want %+v", id, l, got, want)
				}
			},
			"advance": func(rt *rapid.T) {
				d := rapid.SampledFrom([]time.Duration{
					0, time.Microsecond, time.Millisecond, 123 * time.Millisecond, time.Second, 17 * time.Second,
					time.Minute, 59 * time.Minute, time.Hour, 24 * time.Hour, 29 * 24 * time.Hour,
				}).Draw(rt, "advance")
				clk.Advance(d)
			},
			"setQuota": func(rt *rapid.T) {
				slot := rapid.IntRange(0, len(md.limits)-1).Draw(rt, "slot")
				md.limits[slot].Quota = rapid.Int64Range(0, 6).Draw(rt, "quota")
				if md.limits[slot].Quota == 0 {
					md.limits[slot].QuotaPeriod = 0
				}
			},
			"resetQuota": func(rt *rapid.T) {
				slot := rapid.IntRange(0, len(md.limits)-1).Draw(rt, "slot")
				id := md.ids[slot]
				if err := md.m.ResetQuota(t.Context(), id, md.limits[slot]); err != nil {
					rt.Fatal(err)
				}
				k := md.key(id)
				k.window, k.used, k.hasQuota = md.window(md.limits[slot]), 0, true
			},
			"resetQuotaGone": func(rt *rapid.T) { // stores nothing: check sees it
				if len(md.gone) == 0 {
					rt.Skip("nothing forgotten yet")
				}
				id := rapid.SampledFrom(md.gone).Draw(rt, "id")
				if err := md.m.ResetQuota(t.Context(), id, Limits{Quota: 3}); err != nil {
					rt.Fatal(err)
				}
			},
			"forget": func(rt *rapid.T) {
				slot := rapid.IntRange(0, len(md.limits)-1).Draw(rt, "slot")
				id := md.ids[slot]
				if err := md.m.Forget(t.Context(), id); err != nil {
					rt.Fatal(err)
				}
				delete(md.keys, id)
				md.gone = append(md.gone, id)
				md.ids[slot] = md.next // a new key in its place
				md.next++
			},
		})
	})
	t.Logf("%d Takes compared", steps)
}

func drawLimits(rt *rapid.T, label string) Limits {
	var l Limits
	if rapid.Bool().Draw(rt, label+"rated") {
		l.Rate = rapid.IntRange(1, 5).Draw(rt, label+"rate")
		l.Period = rapid.SampledFrom([]time.Duration{time.Second, 7 * time.Second, time.Minute, time.Hour}).Draw(rt, label+"period")
		l.Burst = rapid.IntRange(0, 4).Draw(rt, label+"burst")
	}
	l.Quota = rapid.Int64Range(0, 6).Draw(rt, label+"quota")
	if l.Quota > 0 {
		l.QuotaPeriod = rapid.SampledFrom([]time.Duration{0, time.Minute, time.Hour, 90 * time.Minute, 24 * time.Hour}).Draw(rt, label+"quotaPeriod")
	}
	return l
}

func (md *model) key(id int64) *modelKey {
	k := md.keys[id]
	if k == nil {
		k = &modelKey{hours: map[time.Time][2]int64{}}
		md.keys[id] = k
	}
	return k
}

func (md *model) window(l Limits) int64 {
	if l.QuotaPeriod == 0 {
		return 0
	}
	return md.clk.Now().UnixMicro() / l.QuotaPeriod.Microseconds()
}

// take makes one request of slot's key on the meter and the model and compares the decisions.
func (md *model) take(rt *rapid.T, slot int) {
	l, id := md.limits[slot], md.ids[slot]
	now := md.clk.Now()
	us := now.UnixMicro()
	got, err := md.m.Take(rt.Context(), id, l)
	if err != nil {
		rt.Fatal(err)
	}
	k := md.key(id)
	want := Decision{Remaining: -1}
	used := int64(0)
	if l.Quota > 0 {
		if k.hasQuota && k.window == md.window(l) {
			used = k.used
		}
		want.Remaining = max(l.Quota-used, 0)
		if used >= l.Quota {
			want.QuotaExceeded = true
			if l.QuotaPeriod > 0 {
				next := (md.window(l) + 1) * l.QuotaPeriod.Microseconds()
				want.RetryAfter = time.Duration(next-us) * time.Microsecond
			}
		}
	}
	var iv, level int64
	if !want.QuotaExceeded && l.Rate > 0 {
		// Period/Rate rounded up to the microsecond, as documented on Limits.
		iv = (l.Period.Microseconds() + int64(l.Rate) - 1) / int64(l.Rate)
		burst := int64(l.Burst)
		if burst == 0 {
			burst = int64(l.Rate)
		}
		capacity := iv * burst
		level = capacity
		if k.at != 0 {
			level = min(capacity, k.tokens+(us-k.at))
		}
		if level < iv {
			want.Limited, want.RetryAfter = true, time.Duration(iv-level)*time.Microsecond
		}
	}
	counts := k.hours[now.Truncate(time.Hour)]
	if want.Allowed() {
		counts[0]++
		if l.Rate > 0 {
			k.tokens, k.at = level-iv, us
		}
		if l.Quota > 0 {
			k.window, k.used, k.hasQuota = md.window(l), used+1, true
			want.Remaining = l.Quota - used - 1
		}
	} else {
		counts[1]++
	}
	k.hours[now.Truncate(time.Hour)] = counts
	k.last = now.Truncate(time.Millisecond)
	if got != want {
		rt.Fatalf("Take(%d, %+v) at %v: got %+v, want %+v", id, l, now, got, want)
	}
}

// check compares every key's usage.
func (md *model) check(rt *rapid.T) {
	now := md.clk.Now()
	oldest := now.Truncate(time.Hour).Add(-(RetentionHours - 1) * time.Hour)
	since := time.Time{}
	if rapid.Bool().Draw(rt, "since") {
		since = now.Add(-time.Duration(rapid.Int64Range(0, int64(40*24*time.Hour)).Draw(rt, "sinceAgo")))
	}
	type read struct {
		id int64
		l  Limits
	}
	var reads []read
	for slot, l := range md.limits {
		reads = append(reads, read{md.ids[slot], l})
	}
	for _, id := range md.gone { // nothing stored, whatever was asked of them
		reads = append(reads, read{id, Limits{Quota: 3}})
	}
	for _, r := range reads {
		id, l := r.id, r.l
		got, err := md.m.Usage(rt.Context(), id, l, since)
		if err != nil {
			rt.Fatal(err)
		}
		want := Usage{QuotaRemaining: -1}
		if l.Quota > 0 {
			want.QuotaRemaining = l.Quota
		}
		if k := md.keys[id]; k != nil {
			if l.Quota > 0 && k.hasQuota && k.window == md.window(l) {
				want.QuotaRemaining = max(l.Quota-k.used, 0)
			}
			want.LastUsed = k.last
			for h, c := range k.hours {
				if !h.Before(oldest) && h.Add(time.Hour).After(since) {
					want.Hours = append(want.Hours, Hour{Start: h, Allowed: c[0], Refused: c[1]})
				}
			}
			sort.Slice(want.Hours, func(i, j int) bool { return want.Hours[i].Start.Before(want.Hours[j].Start) })
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			rt.Fatalf("Usage(%d, %+v, since %v) at %v:\n got %+v\nwant %+v", id, l, since, now, got, want)
		}
	}
}

// One replica of Leased gives the exact meter's answers, leases or not.
func TestLeasedMatchesModel(t *testing.T) { runModel(t, leasedMeters(t)) }
