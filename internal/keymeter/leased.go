package keymeter

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/clock"
)

// leaseScript grants a replica up to n requests of a key at once, charged to the same GCRA
// and quota as takeScript's, and records the usage the replica counted since its last call.
// KEYS[1] is the state hash, KEYS[2] Forget's marker, KEYS[3..] usage hashes (one per day
// with counts). ARGV: now, iv,
// boff, quota, win, refill as takeScript's; n; back (unused requests of an expired lease,
// returned) and backWin (that lease's quota window); last (ms, 0: none); the usage TTL; then
// per usage hash: its day and a count of (field, increment) pairs, then the pairs.
// It answers {granted, limited, over, retry, remaining, gone}. With n = 0 it only returns and
// records, which is how Flush reports usage. Under the marker (the key was deleted) it writes
// nothing and answers gone = 1.
var leaseScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local iv = tonumber(ARGV[2])
local boff = tonumber(ARGV[3])
local quota = tonumber(ARGV[4])
local win = ARGV[5]
local refill = tonumber(ARGV[6])
local n = tonumber(ARGV[7])
local back = tonumber(ARGV[8])
local st = KEYS[1]
if redis.call('EXISTS', KEYS[2]) == 1 then return {0, 0, 0, 0, -1, 1} end

local v = redis.call('HMGET', st, 'tat', 'qw', 'qu')
local tat = tonumber(v[1])
local used = 0
if v[2] == win then used = tonumber(v[3]) or 0 end
if back > 0 then
  if iv > 0 and tat then tat = tat - back * iv end
  if quota > 0 and ARGV[9] == win and v[2] == win then used = math.max(used - back, 0) end
end

local k, limited, over, retry = n, 0, 0, 0
if quota > 0 and n > 0 then
  local avail = quota - used
  if avail <= 0 then
    k, over, retry = 0, 1, refill
  elseif avail < k then
    k = avail
  end
end
if iv > 0 then
  if not tat or tat < now then tat = now end
  if over == 0 and n > 0 then
    local fit = math.floor((now + boff - tat) / iv)
    if fit < 1 then
      k, limited, retry = 0, 1, tat + iv - boff - now
    elseif fit < k then
      k = fit
    end
  end
end

local args = {}
if iv > 0 then
  table.insert(args, 'tat'); table.insert(args, string.format('%d', tat + k * iv))
end
if quota > 0 then
  used = used + k
  table.insert(args, 'qw'); table.insert(args, win)
  table.insert(args, 'qu'); table.insert(args, string.format('%d', used))
end
if ARGV[10] ~= '0' then
  table.insert(args, 'last'); table.insert(args, ARGV[10])
end
if #args > 0 then redis.call('HSET', st, unpack(args)) end

local i = 12
for j = 3, #KEYS do
  local u, day, pairs = KEYS[j], ARGV[i], tonumber(ARGV[i + 1])
  i = i + 2
  local have = redis.call('HGET', u, 'd')
  local stale = have and tonumber(have) > tonumber(day) -- the ring has moved past that day
  if not stale and have ~= day then
    redis.call('DEL', u)
    redis.call('HSET', u, 'd', day)
    redis.call('EXPIRE', u, ARGV[11])
  end
  for p = 1, pairs do
    if not stale then redis.call('HINCRBY', u, ARGV[i], ARGV[i + 1]) end
    i = i + 2
  end
end
local remaining = -1
if quota > 0 then remaining = math.max(quota - used, 0) end
return {k, limited, over, retry, remaining, 0}
`)

// LeaseOptions tune a Leased meter; the zero value is the defaults.
type LeaseOptions struct {
	// TTL is how long a replica may use the requests it was granted (default 1s): it bounds
	// how late a granted request can be used, hence the rate limit's overshoot, and how long
	// requests granted but not used are kept from the other replicas.
	TTL time.Duration
	// MaxLease is the most requests granted at once (default 64); a lease is twice the
	// requests the key saw during the previous one, at least 1, at most half the burst.
	MaxLease int
	// MaxKeys bounds the keys held in process (default 10,000); a key beyond it is metered
	// by the exact Take, one round trip each.
	MaxKeys int
	// FlushEvery is how often the usage counted in process is written to Redis, with the
	// unused requests of expired leases (default 1s).
	FlushEvery time.Duration
}

// Leased is a Meter on Redis that serves most Takes of a busy key without a round trip:
// see "Leases" in the package doc. Close it to stop its flusher and write what it holds. It
// is safe for concurrent use.
type Leased struct {
	r     *Redis
	clock clock.Clock
	o     LeaseOptions

	mu   sync.Mutex
	keys map[int64]*leaseKey

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

var _ Meter = (*Leased)(nil)

type leaseKey struct {
	mu sync.Mutex // held across this key's Redis call, so that one lease is asked for at a time

	limits    Limits
	granted   int64 // requests left of the lease
	expires   int64 // µs; the lease is void from then on
	win       int64 // the lease's quota window
	remaining int64 // quota left in Redis after the lease; -1 without a quota
	seen      int64 // requests served from the current lease: the next one's size

	refusal   Decision // Redis's last refusal, answered locally until recheck
	retryAt   int64    // µs, when the refusal ends (0: never)
	recheckAt int64    // µs, when Redis is asked again

	dead bool // let go by the flusher or Forget: a Take holding it looks the key up again
	gone bool // Redis holds Forget's marker: answered as Redis's Take does, nothing counted

	pending map[int64][2]int64 // hour → allowed, refused, not yet in Redis
	last    int64              // ms of the latest request not yet in Redis; 0: none
	touched int64              // µs of the latest Take, for the flusher's sweep
}

// NewLeased returns a Leased meter on r and starts its flusher.
func NewLeased(r *Redis, o LeaseOptions) *Leased {
	o = o.withDefaults()
	m := &Leased{r: r, clock: r.clock, o: o, keys: map[int64]*leaseKey{}, stop: make(chan struct{}), done: make(chan struct{})}
	go m.flusher()
	return m
}

func (o LeaseOptions) withDefaults() LeaseOptions {
	if o.TTL <= 0 {
		o.TTL = time.Second
	}
	if o.MaxLease <= 0 {
		o.MaxLease = 64
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 10_000
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = time.Second
	}
	return o
}

func (m *Leased) flusher() {
	defer close(m.done)
	t := time.NewTicker(m.o.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			// A timeout loses the counts of the call it cuts short, so it is generous: a
			// slow flush only delays the next tick.
			ctx, cancel := context.WithTimeout(context.Background(), max(m.o.FlushEvery, 10*time.Second))
			_ = m.Flush(ctx) // a failed flush loses those counts: see "Leases" in the package doc
			cancel()
		}
	}
}

// Close stops the flusher and writes the usage held in process to Redis.
func (m *Leased) Close(ctx context.Context) error {
	m.once.Do(func() { close(m.stop) })
	<-m.done
	return m.Flush(ctx)
}

// entry returns id's state, creating it; nil when MaxKeys are held.
func (m *Leased) entry(id int64) *leaseKey {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.keys[id]
	if e == nil {
		if len(m.keys) >= m.o.MaxKeys {
			return nil
		}
		e = &leaseKey{pending: map[int64][2]int64{}, remaining: -1}
		m.keys[id] = e
	}
	return e
}

func (e *leaseKey) count(now int64, allowed bool) {
	h := hourOf(now)
	c := e.pending[h]
	if allowed {
		c[0]++
	} else {
		c[1]++
	}
	e.pending[h] = c
	e.last = floorDiv(now, usPerMs)
	e.touched = now
}

// Take implements Meter. A key with no limits, or with requests left of a live lease, or
// refused by Redis a moment ago, is answered in process.
func (m *Leased) Take(ctx context.Context, id int64, l Limits) (Decision, error) {
	if err := l.Validate(); err != nil {
		return Decision{}, err
	}
	var e *leaseKey
	for {
		if e = m.entry(id); e == nil {
			return m.r.Take(ctx, id, l)
		}
		e.mu.Lock()
		if !e.dead {
			break
		}
		e.mu.Unlock()
	}
	defer e.mu.Unlock()
	now := m.clock.Now().UnixMicro()
	if e.gone {
		return Decision{Remaining: -1}, nil // deleted: see Meter.Take
	}
	if l != e.limits {
		e.limits, e.expires, e.recheckAt = l, 0, 0 // new limits: ask Redis, returning the lease
	}
	if l.Rate == 0 && l.Quota == 0 {
		e.count(now, true)
		return Decision{Remaining: -1}, nil
	}
	if now < e.recheckAt {
		e.count(now, false)
		d := e.refusal
		if e.retryAt != 0 {
			d.RetryAfter = time.Duration(e.retryAt-now) * time.Microsecond
		}
		return d, nil
	}
	if e.granted > 0 && now < e.expires {
		e.granted--
		e.seen++
		e.count(now, true)
		return Decision{Remaining: e.quotaLeft(l)}, nil
	}
	n := min(max(2*e.seen, 1), int64(m.o.MaxLease))
	if l.Rate > 0 {
		n = min(n, max(int64(l.burst()/2), 1))
	}
	res, err := m.call(ctx, id, e, l, now, n)
	if err != nil {
		return Decision{}, err
	}
	if e.gone {
		return Decision{Remaining: -1}, nil
	}
	e.granted, e.expires, e.seen, e.recheckAt, e.remaining = res[0], now+m.o.TTL.Microseconds(), 0, 0, res[4]
	var refill int64
	e.win, refill = l.quotaWindow(now)
	if refill > 0 {
		// A lease ends with its quota window, so that no window's requests exceed its quota.
		e.expires = min(e.expires, now+refill)
	}
	if e.granted > 0 {
		e.granted--
		e.seen = 1
		e.count(now, true)
		return Decision{Remaining: e.quotaLeft(l)}, nil
	}
	d := Decision{Limited: res[1] == 1, QuotaExceeded: res[2] == 1, RetryAfter: time.Duration(res[3]) * time.Microsecond, Remaining: res[4]}
	e.refusal, e.retryAt, e.recheckAt = d, 0, now+m.o.TTL.Microseconds()
	if res[3] > 0 {
		e.retryAt = now + res[3]
		e.recheckAt = min(e.recheckAt, e.retryAt)
	}
	e.count(now, false)
	return d, nil
}

// quotaLeft is what a Decision says is left: Redis's remainder plus the lease's.
func (e *leaseKey) quotaLeft(l Limits) int64 {
	if l.Quota == 0 {
		return -1
	}
	return e.remaining + e.granted
}

// call runs leaseScript for e (held) asking for n requests, returning an expired lease's
// unused requests and sending the usage counted so far. The counts and the returned
// requests are dropped whether or not the call succeeds: after an error Redis may or may not
// have recorded them, and losing them (usage a little low, quota a little under-used) is the
// safe side of counting them twice.
func (m *Leased) call(ctx context.Context, id int64, e *leaseKey, l Limits, now, n int64) ([]int64, error) {
	var iv, boff int64
	if l.Rate > 0 {
		iv = l.interval()
		boff = iv * int64(l.burst())
	}
	win, refill := l.quotaWindow(now)
	var back int64
	if n > 0 || now >= e.expires { // a new lease replaces what is left of the old one
		back = e.granted
	}
	keys := []string{m.r.stateKey(id), m.r.goneKey(id)}
	args := []any{now, iv, boff, l.Quota, win, refill, n, back, e.win, e.last, int64(usageTTL / time.Second)}
	byDay := map[int64][]int64{}
	var days []int64
	for h := range e.pending {
		if h <= hourOf(now)-RetentionHours {
			continue // already out of the retention
		}
		d := floorDiv(h, 24)
		if byDay[d] == nil {
			days = append(days, d)
		}
		byDay[d] = append(byDay[d], h)
	}
	slices.Sort(days) // the ring's older days first
	for _, d := range days {
		hours := byDay[d]
		keys = append(keys, m.r.usageKey(id, d-floorDiv(d, DaySlots)*DaySlots))
		pairs := []any{d, 0}
		for _, h := range hours {
			c := e.pending[h]
			hod := strconv.FormatInt(h-d*24, 10)
			if c[0] > 0 {
				pairs = append(pairs, "a"+hod, c[0])
			}
			if c[1] > 0 {
				pairs = append(pairs, "r"+hod, c[1])
			}
		}
		pairs[1] = (len(pairs) - 2) / 2
		args = append(args, pairs...)
	}
	clear(e.pending)
	e.last = 0
	if back > 0 {
		e.granted = 0
	}
	res, err := leaseScript.Run(ctx, m.r.rdb, keys, args...).Int64Slice()
	if err != nil {
		return nil, unavailable("lease", err)
	}
	if len(res) != 6 {
		return nil, unavailable("lease", errShortReply)
	}
	if res[5] == 1 {
		// Forgotten on some replica: what this one held is dropped, and the key is answered
		// in process until the flusher lets it go.
		e.gone, e.granted, e.recheckAt = true, 0, 0
	}
	return res, nil
}

// Flush writes the usage held in process to Redis and returns the unused requests of
// expired leases; it forgets keys idle for two TTLs with nothing held.
func (m *Leased) Flush(ctx context.Context) error {
	now := m.clock.Now().UnixMicro()
	m.mu.Lock()
	ids := make([]int64, 0, len(m.keys))
	for id := range m.keys {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	var first error
	for _, id := range ids {
		if err := m.flushKey(ctx, id, now); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (m *Leased) flushKey(ctx context.Context, id int64, now int64) error {
	m.mu.Lock()
	e := m.keys[id]
	m.mu.Unlock()
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	expired := e.granted > 0 && now >= e.expires
	if len(e.pending) > 0 || expired {
		if _, err := m.call(ctx, id, e, e.limits, now, 0); err != nil {
			return err
		}
	}
	if e.granted == 0 && len(e.pending) == 0 && now >= e.recheckAt && now-e.touched > 2*m.o.TTL.Microseconds() {
		e.dead = true
		m.mu.Lock()
		if m.keys[id] == e {
			delete(m.keys, id)
		}
		m.mu.Unlock()
	}
	return nil
}

// Usage implements Meter: this replica's counts are written first, so that it reads its own
// requests; other replicas' arrive within their FlushEvery.
func (m *Leased) Usage(ctx context.Context, id int64, l Limits, since time.Time) (Usage, error) {
	now := m.clock.Now().UnixMicro()
	if err := m.flushKey(ctx, id, now); err != nil {
		return Usage{}, err
	}
	u, used, err := m.r.usage(ctx, id, l, since)
	if err != nil || l.Quota == 0 {
		return u, err
	}
	// Redis counts a live lease's requests as spent; this replica's own are not yet.
	m.mu.Lock()
	e := m.keys[id]
	m.mu.Unlock()
	if e != nil {
		e.mu.Lock()
		if win, _ := l.quotaWindow(now); e.granted > 0 && now < e.expires && e.win == win && e.limits.QuotaPeriod == l.QuotaPeriod {
			u.QuotaRemaining = max(l.Quota-max(used-e.granted, 0), 0)
		}
		e.mu.Unlock()
	}
	return u, nil
}

// ResetQuota implements Meter. This replica's lease is returned first; other replicas may
// still use what they were granted before the reset, at most a lease each, for at most TTL.
func (m *Leased) ResetQuota(ctx context.Context, id int64, l Limits) error {
	if err := m.drop(ctx, id); err != nil {
		return err
	}
	return m.r.ResetQuota(ctx, id, l)
}

// Forget implements Meter.
func (m *Leased) Forget(ctx context.Context, id int64) error {
	m.mu.Lock()
	e := m.keys[id]
	delete(m.keys, id)
	m.mu.Unlock()
	if e != nil {
		e.mu.Lock()
		e.dead, e.granted, e.recheckAt = true, 0, 0
		clear(e.pending)
		e.mu.Unlock()
	}
	return m.r.Forget(ctx, id)
}

// drop writes id's usage, returns its lease's unused requests, and ends its cached refusal.
func (m *Leased) drop(ctx context.Context, id int64) error {
	m.mu.Lock()
	e := m.keys[id]
	m.mu.Unlock()
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.expires, e.recheckAt = 0, 0
	if len(e.pending) > 0 || e.granted > 0 {
		_, err := m.call(ctx, id, e, e.limits, m.clock.Now().UnixMicro(), 0)
		return err
	}
	return nil
}

// Len returns the number of keys held in process.
func (m *Leased) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}
