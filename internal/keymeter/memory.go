package keymeter

import (
	"container/list"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/authgraph/authgraph/internal/clock"
)

// DefaultMaxKeys bounds a Memory given no bound. A key's entry holds at most RetentionHours
// hours of 24 bytes, about 17 KB when every hour of 30 days had traffic.
const DefaultMaxKeys = 10_000

// Memory is a Meter in process memory, for the embedded store, with the same semantics as
// Redis (one conformance suite checks both). It holds at most maxKeys keys, least recently
// used first out: evicting a key forgets its usage and its quota (a quota that never refills
// starts again), so maxKeys should exceed the number of service keys in use. It is safe for
// concurrent use.
type Memory struct {
	clock clock.Clock
	max   int

	mu   sync.Mutex
	keys map[int64]*list.Element // of *memKey
	lru  list.List               // front: most recently used
	// gone holds the ids Forget was given, so that a Take racing the deletion does not make
	// the key again (as a replica's flush would on Redis); goneOrder bounds it to max ids,
	// the oldest forgotten first out. Ids are never reused, and one that falls out is at
	// worst made again by a late Take and then evicted like any idle key.
	gone      map[int64]struct{}
	goneOrder []int64
}

var _ Meter = (*Memory)(nil)

type memKey struct {
	id       int64
	tat      int64 // the GCRA's theoretical arrival time, µs; 0: none yet
	qw, qu   int64 // the quota window and the requests counted in it
	hasQuota bool  // qw and qu are set
	last     int64 // lastUsed, ms since the epoch; 0: never
	hours    []memHour
}

type memHour struct{ h, allowed, refused int64 }

// NewMemory returns a meter on clock c (nil: the wall clock) keeping at most maxKeys keys
// (<= 0: DefaultMaxKeys).
func NewMemory(c clock.Clock, maxKeys int) *Memory {
	if c == nil {
		c = clock.Real{}
	}
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Memory{clock: c, max: maxKeys, keys: map[int64]*list.Element{}, gone: map[int64]struct{}{}}
}

// Len returns the number of keys held.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}

// get returns id's entry, made the most recently used; with create, a new one if there is
// none, evicting the least recently used beyond the bound. Call with m.mu held.
func (m *Memory) get(id int64, create bool) *memKey {
	if e, ok := m.keys[id]; ok {
		m.lru.MoveToFront(e)
		return e.Value.(*memKey)
	}
	if !create {
		return nil
	}
	k := &memKey{id: id}
	m.keys[id] = m.lru.PushFront(k)
	for len(m.keys) > m.max {
		old := m.lru.Back()
		m.lru.Remove(old)
		delete(m.keys, old.Value.(*memKey).id)
	}
	return k
}

// Take implements Meter with the Redis script's steps, in the same order.
func (m *Memory) Take(_ context.Context, id int64, l Limits) (Decision, error) {
	if err := l.Validate(); err != nil {
		return Decision{}, err
	}
	now := m.clock.Now().UnixMicro()
	win, refill := l.quotaWindow(now)

	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.gone[id]; ok {
		return Decision{Remaining: -1}, nil // deleted: see Meter.Take
	}
	k := m.get(id, true)
	d := Decision{Remaining: -1}
	var used int64
	if l.Quota > 0 {
		if k.hasQuota && k.qw == win {
			used = k.qu
		}
		d.Remaining = l.Quota - used
		if d.Remaining <= 0 {
			d.Remaining, d.QuotaExceeded = 0, true
			d.RetryAfter = time.Duration(refill) * time.Microsecond
		}
	}
	var tat, iv int64
	if !d.QuotaExceeded && l.Rate > 0 {
		iv = l.interval()
		tat = max(k.tat, now)
		if allowAt := tat + iv - iv*int64(l.burst()); now < allowAt {
			d.Limited, d.RetryAfter = true, time.Duration(allowAt-now)*time.Microsecond
		}
	}
	if d.Allowed() {
		if l.Rate > 0 {
			k.tat = tat + iv
		}
		if l.Quota > 0 {
			used++
			d.Remaining = l.Quota - used
			k.qw, k.qu, k.hasQuota = win, used, true
		}
	}
	k.last = floorDiv(now, usPerMs)
	k.count(hourOf(now), d.Allowed())
	return d, nil
}

// count adds one request to hour h, dropping the hours that have left the retention. Hours
// are kept in order; h is nearly always the last one, or a new last one (a clock set back
// finds or inserts its hour further up).
func (k *memKey) count(h int64, allowed bool) {
	i := len(k.hours)
	for i > 0 && k.hours[i-1].h > h {
		i--
	}
	if i == 0 || k.hours[i-1].h != h {
		k.hours = slices.Insert(k.hours, i, memHour{h: h})
		i++
		drop := 0
		for drop < len(k.hours) && k.hours[drop].h <= k.hours[len(k.hours)-1].h-RetentionHours {
			drop++
		}
		k.hours = append(k.hours[:0], k.hours[drop:]...)
		i -= drop
		if i <= 0 {
			return // h itself is older than the retention
		}
	}
	if allowed {
		k.hours[i-1].allowed++
	} else {
		k.hours[i-1].refused++
	}
}

// Usage implements Meter.
func (m *Memory) Usage(_ context.Context, id int64, l Limits, since time.Time) (Usage, error) {
	if err := l.Validate(); err != nil {
		return Usage{}, err
	}
	now := m.clock.Now().UnixMicro()
	cur := hourOf(now)
	win, _ := l.quotaWindow(now)

	m.mu.Lock()
	defer m.mu.Unlock()
	u := Usage{QuotaRemaining: -1}
	if l.Quota > 0 {
		u.QuotaRemaining = l.Quota
	}
	k := m.get(id, false)
	if k == nil {
		return u, nil
	}
	if l.Quota > 0 && k.hasQuota && k.qw == win {
		u.QuotaRemaining = max(l.Quota-k.qu, 0)
	}
	u.LastUsed = lastUsed(k.last)
	for _, h := range k.hours {
		if keepHour(h.h, cur, since) {
			u.Hours = append(u.Hours, Hour{Start: hourStart(h.h), Allowed: h.allowed, Refused: h.refused})
		}
	}
	return u, nil
}

// ResetQuota implements Meter.
func (m *Memory) ResetQuota(_ context.Context, id int64, l Limits) error {
	if err := l.Validate(); err != nil {
		return err
	}
	win, _ := l.quotaWindow(m.clock.Now().UnixMicro())
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.gone[id]; ok {
		return nil
	}
	k := m.get(id, true)
	k.qw, k.qu, k.hasQuota = win, 0, true
	return nil
}

// Forget implements Meter: the key's entry goes, and its id is remembered as gone.
func (m *Memory) Forget(_ context.Context, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.keys[id]; ok {
		m.lru.Remove(e)
		delete(m.keys, id)
	}
	if _, ok := m.gone[id]; !ok {
		m.gone[id] = struct{}{}
		m.goneOrder = append(m.goneOrder, id)
		if len(m.goneOrder) > m.max {
			delete(m.gone, m.goneOrder[0])
			m.goneOrder = append(m.goneOrder[:0], m.goneOrder[1:]...)
		}
	}
	return nil
}
