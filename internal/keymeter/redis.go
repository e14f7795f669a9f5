package keymeter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
)

// DaySlots is how many usage hashes a key has in Redis: a ring of one per day, so that the
// 30 days of RetentionHours are always held, with today's hash at day%DaySlots.
const DaySlots = 31

// usageTTL is given to a day's usage hash when it is created, so that the hashes of a key that
// is no longer used leave by themselves; the ring would reuse them otherwise. It is relative
// (EXPIRE, on Redis's clock) and counted from the day's first request, so a day is kept for
// at least its 30 days of retention and at most 32 days and one hour.
const usageTTL = (DaySlots+1)*24*time.Hour + time.Hour

// GoneTTL is how long Forget's marker (prefix{sk<id>}:gone) keeps every script from writing
// for a forgotten key. It must outlast anything a replica may still send for the key after
// Forget: a lease (TTL, 1 s by default) and the usage counted meanwhile, written by the next
// flush (FlushEvery, 1 s, with a timeout of 10 s), and the Takes of a replica whose cache still
// authenticates the deleted key (sessioncache's TTL, 10 s by default; the deletion's message
// normally ends it within milliseconds). An hour is far beyond their sum and keeps the marker
// from becoming a leak of its own: service key ids come from a sequence and are never reused,
// so a marker without a TTL would stay forever for every deleted key.
const GoneTTL = time.Hour

// takeScript is one Take: the quota, the rate limit, the hour's usage and lastUsed, read and
// written in one atomic step. KEYS[1] is the key's state hash (fields tat: the GCRA's
// theoretical arrival time; qw, qu: the quota window and the requests counted in it; last:
// lastUsed in ms), KEYS[2] today's usage hash (d: its day; aH, rH: the requests allowed and
// refused in hour H of the day). All times are microseconds since the Unix epoch, given by
// the caller. KEYS[3] is Forget's marker: when it is set the key was deleted, and the script
// writes nothing and answers an allowed request without a limit. Lua numbers are doubles: every value here is a whole number below 2^53 (see
// Limits.Validate), so the arithmetic is exact and agrees with Memory's.
//
// The rate limit is the GCRA of go-redis/redis_rate (after rwz/redis-gcra), adapted: the
// time comes from ARGV rather than Redis TIME, the state is a field of the key's hash, and
// a request refused by the quota is checked first so that it costs no rate-limit token (and
// one refused by the rate limit spends no quota).
var takeScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local iv = tonumber(ARGV[2])       -- emission interval; 0: no rate limit
local boff = tonumber(ARGV[3])     -- burst offset: iv * burst
local quota = tonumber(ARGV[4])    -- 0: no quota
local win = ARGV[5]                -- current quota window
local refill = tonumber(ARGV[6])   -- until the next window; 0: never
local st = KEYS[1]
local u = KEYS[2]
if redis.call('EXISTS', KEYS[3]) == 1 then return {0, 0, 0, -1} end

local limited, over, retry, remaining = 0, 0, 0, -1
local v = redis.call('HMGET', st, 'tat', 'qw', 'qu')
local used = 0
if quota > 0 then
  if v[2] == win then used = tonumber(v[3]) or 0 end
  remaining = quota - used
  if remaining <= 0 then
    remaining, over, retry = 0, 1, refill
  end
end

local tat
if over == 0 and iv > 0 then
  tat = tonumber(v[1]) or now
  if tat < now then tat = now end
  local allow_at = tat + iv - boff
  if now < allow_at then
    limited, retry = 1, allow_at - now
  end
end

local field = 'r'
if over == 0 and limited == 0 then
  field = 'a'
  if quota > 0 then
    used = used + 1
    remaining = quota - used
  end
end
-- One write of the state: lastUsed, and what the request spent.
if field == 'r' then
  redis.call('HSET', st, 'last', ARGV[9])
elseif iv > 0 and quota > 0 then
  redis.call('HSET', st, 'last', ARGV[9], 'tat', string.format('%d', tat + iv), 'qw', win, 'qu', string.format('%d', used))
elseif iv > 0 then
  redis.call('HSET', st, 'last', ARGV[9], 'tat', string.format('%d', tat + iv))
elseif quota > 0 then
  redis.call('HSET', st, 'last', ARGV[9], 'qw', win, 'qu', string.format('%d', used))
else
  redis.call('HSET', st, 'last', ARGV[9])
end

-- Today's hash: emptied when the ring comes round to it again. A day older than the one it
-- holds (a clock 31 days behind) is not counted rather than wipe a newer day.
local have = redis.call('HGET', u, 'd')
if have ~= ARGV[7] then
  if have and tonumber(have) > tonumber(ARGV[7]) then
    return {limited, over, retry, remaining}
  end
  redis.call('DEL', u)
  redis.call('HSET', u, 'd', ARGV[7])
  redis.call('EXPIRE', u, ARGV[10])
end
redis.call('HINCRBY', u, field .. ARGV[8], 1)
return {limited, over, retry, remaining}
`)

var errShortReply = errors.New("the script answered too few values")

// Redis is a Meter in Redis, shared by every replica: each Take is one EVALSHA of
// takeScript, atomic on the server. It is safe for concurrent use.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
	clock  clock.Clock
}

var _ Meter = (*Redis)(nil)

// NewRedis returns a meter on rdb with key names under prefix ("" means "ag:"; it must hold
// no '{', which would take the hash tag's place), reading time from c (nil: the wall clock).
// The caller keeps ownership of rdb.
func NewRedis(rdb redis.UniversalClient, prefix string, c clock.Clock) *Redis {
	if prefix == "" {
		prefix = "ag:"
	}
	if c == nil {
		c = clock.Real{}
	}
	return &Redis{rdb: rdb, prefix: prefix, clock: c}
}

// stateKey is the name of key id's state hash: prefix{sk<id>}:m.
func (r *Redis) stateKey(id int64) string {
	b := make([]byte, 0, len(r.prefix)+28)
	b = append(append(b, r.prefix...), "{sk"...)
	b = strconv.AppendInt(b, id, 10)
	return string(append(b, "}:m"...))
}

// usageKey is the name of key id's usage hash for day slot s: prefix{sk<id>}:u<s>.
func (r *Redis) usageKey(id int64, s int64) string {
	b := make([]byte, 0, len(r.prefix)+30)
	b = append(append(b, r.prefix...), "{sk"...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, "}:u"...)
	return string(strconv.AppendInt(b, s, 10))
}

// goneKey is the name of Forget's marker for id: prefix{sk<id>}:gone.
func (r *Redis) goneKey(id int64) string {
	b := make([]byte, 0, len(r.prefix)+31)
	b = append(append(b, r.prefix...), "{sk"...)
	b = strconv.AppendInt(b, id, 10)
	return string(append(b, "}:gone"...))
}

// Keys returns the names of every Redis key the meter may hold for id, all in one hash slot:
// the state hash, the DaySlots usage hashes, and last Forget's marker.
func (r *Redis) Keys(id int64) []string {
	keys := make([]string, 0, DaySlots+2)
	keys = append(keys, r.stateKey(id))
	for s := range int64(DaySlots) {
		keys = append(keys, r.usageKey(id, s))
	}
	return append(keys, r.goneKey(id))
}

// Take implements Meter in one round trip.
func (r *Redis) Take(ctx context.Context, id int64, l Limits) (Decision, error) {
	if err := l.Validate(); err != nil {
		return Decision{}, err
	}
	now := r.clock.Now().UnixMicro()
	h := hourOf(now)
	day := floorDiv(h, 24)
	var iv, boff int64
	if l.Rate > 0 {
		iv = l.interval()
		boff = iv * int64(l.burst())
	}
	win, refill := l.quotaWindow(now)
	res, err := takeScript.Run(ctx, r.rdb,
		[]string{r.stateKey(id), r.usageKey(id, day-floorDiv(day, DaySlots)*DaySlots), r.goneKey(id)},
		now, iv, boff, l.Quota, win, refill, day, h-day*24, floorDiv(now, usPerMs), int64(usageTTL/time.Second),
	).Int64Slice()
	if err != nil {
		return Decision{}, unavailable("take", err)
	}
	if len(res) != 4 {
		return Decision{}, unavailable("take", errShortReply)
	}
	return Decision{
		Limited:       res[0] == 1,
		QuotaExceeded: res[1] == 1,
		RetryAfter:    time.Duration(res[2]) * time.Microsecond,
		Remaining:     res[3],
	}, nil
}

// Usage implements Meter in one round trip (a pipeline of reads in the key's slot).
func (r *Redis) Usage(ctx context.Context, id int64, l Limits, since time.Time) (Usage, error) {
	u, _, err := r.usage(ctx, id, l, since)
	return u, err
}

// usage is Usage, also answering the requests counted against the current quota window.
func (r *Redis) usage(ctx context.Context, id int64, l Limits, since time.Time) (Usage, int64, error) {
	if err := l.Validate(); err != nil {
		return Usage{}, 0, err
	}
	now := r.clock.Now().UnixMicro()
	cur := hourOf(now)
	keys := r.Keys(id)
	var state *redis.SliceCmd
	days := make([]*redis.MapStringStringCmd, DaySlots)
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		state = p.HMGet(ctx, keys[0], "qw", "qu", "last")
		for i := range days {
			days[i] = p.HGetAll(ctx, keys[i+1])
		}
		return nil
	})
	if err != nil {
		return Usage{}, 0, unavailable("usage", err)
	}
	f := state.Val()
	u := Usage{QuotaRemaining: -1}
	var used int64
	if l.Quota > 0 {
		win, _ := l.quotaWindow(now)
		if field(f[0]) == strconv.FormatInt(win, 10) {
			used, _ = strconv.ParseInt(field(f[1]), 10, 64)
		}
		u.QuotaRemaining = max(l.Quota-used, 0)
	}
	if ms, err := strconv.ParseInt(field(f[2]), 10, 64); err == nil {
		u.LastUsed = lastUsed(ms)
	}
	byHour := map[int64]*Hour{}
	for _, c := range days {
		m := c.Val()
		day, err := strconv.ParseInt(m["d"], 10, 64)
		if err != nil {
			continue // an empty slot
		}
		for k, v := range m {
			if len(k) < 2 || (k[0] != 'a' && k[0] != 'r') {
				continue
			}
			hod, err1 := strconv.ParseInt(k[1:], 10, 64)
			n, err2 := strconv.ParseInt(v, 10, 64)
			h := day*24 + hod
			if err1 != nil || err2 != nil || !keepHour(h, cur, since) {
				continue
			}
			e := byHour[h]
			if e == nil {
				e = &Hour{Start: hourStart(h)}
				byHour[h] = e
			}
			if k[0] == 'a' {
				e.Allowed += n
			} else {
				e.Refused += n
			}
		}
	}
	for _, e := range byHour {
		u.Hours = append(u.Hours, *e)
	}
	slices.SortFunc(u.Hours, func(a, b Hour) int { return a.Start.Compare(b.Start) })
	return u, used, nil
}

func field(v any) string {
	s, _ := v.(string)
	return s
}

// resetScript is ResetQuota: KEYS[1] the state hash, KEYS[2] Forget's marker, under which
// nothing is written.
var resetScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'qw', ARGV[1], 'qu', 0)
return 1
`)

// ResetQuota implements Meter: the quota counts from nothing again in the current window.
func (r *Redis) ResetQuota(ctx context.Context, id int64, l Limits) error {
	if err := l.Validate(); err != nil {
		return err
	}
	win, _ := l.quotaWindow(r.clock.Now().UnixMicro())
	if err := resetScript.Run(ctx, r.rdb, []string{r.stateKey(id), r.goneKey(id)}, win).Err(); err != nil {
		return unavailable("reset quota", err)
	}
	return nil
}

// Forget implements Meter: in one MULTI (one slot), a DEL of every key the meter holds for
// id and the marker, for GoneTTL, under which no script writes for id again, so that a
// replica's lease or flush that comes after cannot bring the key's hashes back.
func (r *Redis) Forget(ctx context.Context, id int64) error {
	keys := r.Keys(id)
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, keys[:len(keys)-1]...)
		p.Set(ctx, r.goneKey(id), 1, GoneTTL)
		return nil
	})
	if err != nil {
		return unavailable("forget", err)
	}
	return nil
}

// unavailable wraps a Redis failure with auth.ErrUnavailable (a retryable 503): whether a
// request goes on without its meter is the caller's choice, not this package's.
func unavailable(op string, err error) error {
	return fmt.Errorf("keymeter: %s: %w: %w", op, auth.ErrUnavailable, err)
}
