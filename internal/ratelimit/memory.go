package ratelimit

import (
	"container/list"
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/authgraph/authgraph/internal/clock"
)

// DefaultMaxKeys bounds a MemoryLimiter when its constructor is given no bound: about 25 MB
// of buckets at most (see TestMemoryEntrySize).
const DefaultMaxKeys = 100_000

// MemoryLimiter is a Limiter in process memory, for the embedded store: one
// golang.org/x/time/rate token bucket per rule and key, which enforces the same Limit as the
// Redis limiter's GCRA (both allow Burst at once, then Rate per Period).
//
// Memory is bounded, so a spray of distinct keys cannot grow it without end: at most maxKeys
// buckets are kept, least recently used first out. Every operation also drops up to two of
// the least recently used buckets that have refilled, since a full bucket is the same as no
// bucket; so the set stays near the keys in active use. Evicting a bucket that has not
// refilled forgives its key; the key under attack is not the one to go, because every
// attempt on it makes it the most recently used. It is safe for concurrent use.
type MemoryLimiter struct {
	clock clock.Clock
	rules map[string]memRule
	max   int

	mu      sync.Mutex
	buckets map[bucketID]*list.Element // of *bucket
	lru     list.List                  // front: most recently used
}

var _ Limiter = (*MemoryLimiter)(nil)

type memRule struct {
	Limit
	every rate.Limit // Rate per Period, in attempts per second
}

// bucketID names a bucket by rule and the digest of its key, so that a bucket's size does
// not depend on how long a key the client sent.
type bucketID struct {
	rule string
	sum  [sha256.Size]byte
}

type bucket struct {
	id  bucketID
	lim *rate.Limiter
}

// NewMemory returns a limiter on clock c (nil: the wall clock) enforcing rules laid over
// DefaultRules (nil: the defaults), keeping at most maxKeys buckets (<= 0: DefaultMaxKeys).
func NewMemory(c clock.Clock, rules map[string]Limit, maxKeys int) (*MemoryLimiter, error) {
	all, err := withDefaults(rules)
	if err != nil {
		return nil, err
	}
	if c == nil {
		c = clock.Real{}
	}
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	m := &MemoryLimiter{clock: c, rules: make(map[string]memRule, len(all)), max: maxKeys, buckets: map[bucketID]*list.Element{}}
	for name, l := range all {
		m.rules[name] = memRule{Limit: l, every: rate.Limit(float64(l.Rate) / l.Period.Seconds())}
	}
	return m, nil
}

// Len returns the number of buckets held.
func (m *MemoryLimiter) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}

// Allow implements Limiter.
func (m *MemoryLimiter) Allow(_ context.Context, rule, key string) (Result, error) {
	r, id, err := m.id(rule, key)
	if err != nil {
		return Result{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	lim := m.get(id, r, now, true)
	if lim.AllowN(now, 1) {
		return r.result(lim.TokensAt(now), true), nil
	}
	return r.result(lim.TokensAt(now), false), nil
}

// Peek implements Limiter. It makes no bucket for an unknown key: that one is full.
func (m *MemoryLimiter) Peek(_ context.Context, rule, key string) (Result, error) {
	r, id, err := m.id(rule, key)
	if err != nil {
		return Result{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	tokens := float64(r.Burst)
	if lim := m.get(id, r, now, false); lim != nil {
		tokens = lim.TokensAt(now)
	}
	return r.result(tokens, tokens >= 1), nil
}

// Drain implements Limiter.
func (m *MemoryLimiter) Drain(_ context.Context, rule, key string) error {
	r, id, err := m.id(rule, key)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	lim := m.get(id, r, now, true)
	if n := int(math.Floor(lim.TokensAt(now))); n > 0 {
		lim.AllowN(now, n)
	}
	return nil
}

// Reset implements Limiter.
func (m *MemoryLimiter) Reset(_ context.Context, rule, key string) error {
	_, id, err := m.id(rule, key)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.buckets[id]; ok {
		m.remove(e)
	}
	return nil
}

func (m *MemoryLimiter) id(rule, key string) (memRule, bucketID, error) {
	r, ok := m.rules[rule]
	if !ok {
		return memRule{}, bucketID{}, fmt.Errorf("%w %q", ErrUnknownRule, rule)
	}
	return r, bucketID{rule: rule, sum: sha256.Sum256([]byte(key))}, nil
}

// get returns id's bucket, marked as just used, making a full one if create is set (else
// nil for a missing one). It sweeps refilled buckets first and, when full, evicts one. m.mu
// must be held.
func (m *MemoryLimiter) get(id bucketID, r memRule, now time.Time, create bool) *rate.Limiter {
	m.sweep(now, 2)
	if e, ok := m.buckets[id]; ok {
		m.lru.MoveToFront(e)
		return e.Value.(*bucket).lim
	}
	if !create {
		return nil
	}
	if len(m.buckets) >= m.max {
		m.remove(m.lru.Back())
	}
	b := &bucket{id: id, lim: rate.NewLimiter(r.every, r.Burst)}
	m.buckets[id] = m.lru.PushFront(b)
	return b.lim
}

// sweep drops up to n of the least recently used buckets, as long as they have refilled.
func (m *MemoryLimiter) sweep(now time.Time, n int) {
	for range n {
		e := m.lru.Back()
		if e == nil {
			return
		}
		b := e.Value.(*bucket)
		if b.lim.TokensAt(now) < float64(b.lim.Burst()) {
			return
		}
		m.remove(e)
	}
}

func (m *MemoryLimiter) remove(e *list.Element) {
	delete(m.buckets, m.lru.Remove(e).(*bucket).id)
}

// result describes a bucket holding tokens.
func (r memRule) result(tokens float64, allowed bool) Result {
	res := Result{Allowed: allowed, Remaining: int(math.Floor(tokens))}
	if !allowed {
		res.RetryAfter = positive(r.wait(1 - tokens))
	}
	if tokens < float64(r.Burst) {
		res.ResetAfter = r.wait(float64(r.Burst) - tokens)
	}
	return res
}

// wait is the time it takes to refill tokens.
func (r memRule) wait(tokens float64) time.Duration {
	return time.Duration(tokens / float64(r.every) * float64(time.Second))
}
