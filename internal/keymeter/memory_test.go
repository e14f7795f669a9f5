package keymeter

import (
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/clock"
)

// Memory holds at most maxKeys keys; the least recently used (by Take or Usage) goes first.
func TestMemoryEvictsLeastRecentlyUsed(t *testing.T) {
	m := NewMemory(clock.NewFake(start), 2)
	l := Limits{Quota: 10}
	take(t, m, 1, l)
	take(t, m, 2, l)
	usage(t, m, 1, l, time.Time{}) // 1 is now more recent than 2
	take(t, m, 3, l)
	if m.Len() != 2 {
		t.Fatalf("%d keys held, bound 2", m.Len())
	}
	if u := usage(t, m, 2, l, time.Time{}); len(u.Hours) != 0 || u.QuotaRemaining != 10 {
		t.Fatalf("key 2 should have been evicted: %+v", u)
	}
	for _, id := range []int64{1, 3} {
		if u := usage(t, m, id, l, time.Time{}); len(u.Hours) != 1 || u.QuotaRemaining != 9 {
			t.Fatalf("key %d lost: %+v", id, u)
		}
	}
	// Usage of an unknown key creates nothing.
	if m.Len() != 2 {
		t.Fatalf("%d keys held after reads", m.Len())
	}
	if err := m.Forget(t.Context(), 1); err != nil || m.Len() != 1 {
		t.Fatalf("Forget: %v, %d keys", err, m.Len())
	}
}

// A key's hours are trimmed as they leave the retention, not only hidden.
func TestMemoryTrimsHours(t *testing.T) {
	clk := clock.NewFake(start)
	m := NewMemory(clk, 0)
	for range 3 * RetentionHours {
		take(t, m, 1, Limits{})
		clk.Advance(time.Hour)
	}
	m.mu.Lock()
	n := len(m.keys[1].Value.(*memKey).hours)
	m.mu.Unlock()
	if n != RetentionHours {
		t.Fatalf("%d hours held, want %d", n, RetentionHours)
	}
}

// A clock set back counts into the right hour, in order.
func TestMemoryClockSetBack(t *testing.T) {
	clk := clock.NewFake(start.Add(3 * time.Hour))
	m := NewMemory(clk, 0)
	take(t, m, 1, Limits{})
	clk.Set(start.Add(time.Hour))
	take(t, m, 1, Limits{})
	clk.Set(start.Add(3 * time.Hour))
	take(t, m, 1, Limits{})
	hoursEqual(t, usage(t, m, 1, Limits{}, time.Time{}).Hours, []Hour{
		{Start: start.Add(time.Hour), Allowed: 1},
		{Start: start.Add(3 * time.Hour), Allowed: 2},
	})
}

// Memory remembers at most maxKeys forgotten ids, the oldest forgotten first out: one that
// falls out is metered again if a late Take comes, and then evicted like any key.
func TestMemoryBoundsForgottenIDs(t *testing.T) {
	m := NewMemory(clock.NewFake(start), 2)
	l := Limits{Quota: 10}
	for id := range int64(4) {
		take(t, m, id, l)
		if err := m.Forget(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	m.mu.Lock()
	n, order := len(m.gone), len(m.goneOrder)
	m.mu.Unlock()
	if n != 2 || order != 2 {
		t.Fatalf("%d forgotten ids held (%d in order), bound 2", n, order)
	}
	for _, id := range []int64{2, 3} {
		want(t, "still gone", take(t, m, id, l), allowed(-1))
	}
	want(t, "fallen out: metered again", take(t, m, 0, l), allowed(9))
	if m.Len() != 1 {
		t.Fatalf("%d keys held, want only the one metered again", m.Len())
	}
}
