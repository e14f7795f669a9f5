package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/seal"
)

// Redis layout. Every key holds the {mail} hash tag, so that all of them live in one Cluster
// slot and the scripts below may touch several at once:
//
//	{mail}:q          stream of waiting messages, read by the consumer group "senders"
//	{mail}:retry      sorted set of failed messages, scored by the time of their next try
//	{mail}:dead       stream of dead letters (capped at Policy.MaxDead, oldest trimmed)
//	{mail}:sent:<id>  the idempotency key: the stream entry id while a worker sends it
//	                  (expires after Policy.Visibility), then "sent" (expires after SentTTL)
//
// An acknowledged entry is deleted from the stream at once, so the stream holds only the
// messages not yet sent, and its length plus the retry set's size is what MaxQueued bounds.
// Enqueue refuses (ErrQueueFull) beyond that bound rather than XADD MAXLEN, which would trim
// the oldest entries whether they were sent or not, i.e. silently lose mail.
const (
	groupName = "senders"
	fieldMsg  = "m"
)

// envelope is what the stream and the retry set hold.
type envelope struct {
	Message  Message `json:"msg"`
	Failures int     `json:"failures,omitempty"`
}

// RedisQueue is the queue in Redis, shared by all replicas.
type RedisQueue struct {
	rdb      redis.UniversalClient
	renderer *Renderer
	clock    clock.Clock
	policy   Policy
	poll     time.Duration
	prefix   string
	q        string
	retry    string
	dead     string

	box       *seal.Box
	pruneIdle time.Duration
	lastPrune atomic.Int64 // unix ms of the injected clock
}

// RedisOptions configures a RedisQueue.
type RedisOptions struct {
	// Prefix goes before every key (e.g. "authgraph:"); the hash tag follows it.
	Prefix string
	Policy Policy
	// Clock times the retries; nil means the wall clock.
	Clock clock.Clock
	// Poll is how long a worker blocks waiting for a new message before it looks for retries
	// that fell due and for messages of dead workers (default 1 s).
	Poll time.Duration
	// Box seals every message in Redis (AES-256-GCM under AUTHGRAPH_SECRET_KEY): a message
	// holds a live token in its link until it is sent, and a dead letter keeps it longer.
	// nil stores messages in plaintext.
	Box *seal.Box
	// PruneIdle: a consumer of the group idle this long with nothing pending is deleted
	// (default 1 h). Every worker run has its own consumer names, so without this the group
	// would collect one per restart of every replica.
	PruneIdle time.Duration
}

// NewRedisQueue creates the consumer group if it is missing. The renderer checks messages at
// Enqueue (see Queue). If Redis cannot be reached it answers the queue all the same, with
// the error: a worker's first read creates the group once Redis is back, so a server may
// start during an outage and log the error.
func NewRedisQueue(ctx context.Context, rdb redis.UniversalClient, renderer *Renderer, o RedisOptions) (*RedisQueue, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.PruneIdle <= 0 {
		o.PruneIdle = time.Hour
	}
	if o.Box == nil {
		o.Box = &seal.Box{}
	}
	k := o.Prefix + "{mail}:"
	q := &RedisQueue{rdb: rdb, renderer: renderer, clock: o.Clock, policy: o.Policy.withDefaults(),
		poll: o.Poll, prefix: k, q: k + "q", retry: k + "retry", dead: k + "dead", pruneIdle: o.PruneIdle, box: o.Box}
	q.lastPrune.Store(o.Clock.Now().UnixMilli())
	return q, q.createGroup(ctx)
}

// createGroup makes the group from the stream's start ("0"), so that messages added before
// the group existed are read too, and the stream with it (MKSTREAM).
func (q *RedisQueue) createGroup(ctx context.Context) error {
	err := q.rdb.XGroupCreateMkStream(ctx, q.q, groupName, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("mail: create the consumer group: %w", err)
	}
	return nil
}

func (q *RedisQueue) sentKey(id string) string { return q.prefix + "sent:" + id }

// enqueueScript adds a message unless it was already sent (its key says "sent": nothing to
// do) or the queue is full. KEYS: q, retry, sent:<id>. ARGV: max, payload.
var enqueueScript = redis.NewScript(`
if redis.call('GET', KEYS[3]) == 'sent' then return 2 end
if redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('XADD', KEYS[1], '*', 'm', ARGV[2])
return 1
`)

// Enqueue implements Queue: one script call, so the message is in Redis (or refused) when
// it returns.
func (q *RedisQueue) Enqueue(ctx context.Context, m Message) error {
	if err := q.renderer.check(m); err != nil {
		return err
	}
	b, err := q.encode(envelope{Message: m})
	if err != nil {
		return err
	}
	ok, err := enqueueScript.Run(ctx, q.rdb, []string{q.q, q.retry, q.sentKey(m.ID)}, q.policy.MaxQueued, b).Int()
	if err != nil {
		return fmt.Errorf("mail: enqueue: %w", err)
	}
	if ok == 0 {
		return ErrQueueFull
	}
	return nil
}

// promoteScript moves up to ARGV[2] retries due at ARGV[1] (ms) from the retry set back to
// the stream, in one step so that none is lost or doubled. KEYS: retry, q.
var promoteScript = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'm', m)
  redis.call('ZREM', KEYS[1], m)
end
return #due
`)

// pruneScript deletes the consumers idle longer than ARGV[1] ms with nothing pending. A
// consumer with pending entries is never deleted (that would orphan them), and one script
// means none can gain an entry between the check and the deletion. KEYS: q.
var pruneScript = redis.NewScript(`
local n = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], 'senders')) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if tonumber(f['pending']) == 0 and tonumber(f['idle']) > tonumber(ARGV[1]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], 'senders', f['name'])
    n = n + 1
  end
end
return n
`)

// prune runs pruneScript at most every half PruneIdle (and at least every 10 minutes), from
// whichever worker of this process comes first.
func (q *RedisQueue) prune(ctx context.Context) error {
	every := min(q.pruneIdle/2, 10*time.Minute).Milliseconds()
	now := q.clock.Now().UnixMilli()
	last := q.lastPrune.Load()
	if now-last < every || !q.lastPrune.CompareAndSwap(last, now) {
		return nil
	}
	if err := pruneScript.Run(ctx, q.rdb, []string{q.q}, q.pruneIdle.Milliseconds()).Err(); err != nil && !isNoGroup(err) {
		return fmt.Errorf("mail: prune idle consumers: %w", err)
	}
	return nil
}

func (q *RedisQueue) receive(ctx context.Context, consumer string, max int) ([]Delivery, error) {
	if err := q.prune(ctx); err != nil {
		return nil, err
	}
	if err := promoteScript.Run(ctx, q.rdb, []string{q.retry, q.q}, q.clock.Now().UnixMilli(), 100).Err(); err != nil {
		return nil, fmt.Errorf("mail: promote retries: %w", err)
	}
	// Messages of workers that died mid-send, idle longer than the visibility timeout.
	claimed, _, err := q.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: q.q, Group: groupName,
		Consumer: consumer, MinIdle: q.policy.Visibility, Start: "0-0", Count: int64(max)}).Result()
	if err != nil && !isNoGroup(err) {
		return nil, fmt.Errorf("mail: claim abandoned messages: %w", err)
	}
	if len(claimed) > 0 {
		return q.decode(ctx, claimed), nil
	}
	streams, err := q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: groupName, Consumer: consumer,
		Streams: []string{q.q, ">"}, Count: int64(max), Block: q.poll}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if isNoGroup(err) {
		// Redis restarted empty (no persistence) or the stream was deleted.
		return nil, q.createGroup(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("mail: read the queue: %w", err)
	}
	var out []Delivery
	for _, s := range streams {
		out = append(out, q.decode(ctx, s.Messages)...)
	}
	return out, nil
}

// sealAD binds a sealed message to its use.
var sealAD = []byte("authgraph mail queue")

func (q *RedisQueue) encode(e envelope) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("mail: encode: %w", err)
	}
	b, err = q.box.Seal(b, sealAD)
	if err != nil {
		return nil, fmt.Errorf("mail: seal: %w", err)
	}
	return b, nil
}

func (q *RedisQueue) decodeEnvelope(s string) (envelope, error) {
	var e envelope
	b, err := q.box.Open([]byte(s), sealAD)
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("mail: decode: %w", err)
	}
	return e, nil
}

func isNoGroup(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOGROUP") }

// decode turns entries into deliveries. An entry that cannot be decoded can never be sent:
// it goes to the dead letters as it is.
func (q *RedisQueue) decode(ctx context.Context, msgs []redis.XMessage) []Delivery {
	out := make([]Delivery, 0, len(msgs))
	for _, x := range msgs {
		s, _ := x.Values[fieldMsg].(string)
		e, err := q.decodeEnvelope(s)
		if err != nil {
			_, _ = q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.XAdd(ctx, &redis.XAddArgs{Stream: q.dead, MaxLen: int64(q.policy.MaxDead), Approx: true,
					Values: map[string]any{fieldMsg: s, "reason": "undecodable entry: " + err.Error(),
						"at": q.clock.Now().UnixMilli()}})
				p.XAck(ctx, q.q, groupName, x.ID)
				p.XDel(ctx, q.q, x.ID)
				return nil
			})
			continue
		}
		out = append(out, Delivery{Message: e.Message, Failures: e.Failures, ref: x.ID})
	}
	return out
}

// beginScript claims a message's idempotency key. KEYS: sent:<id>, q. ARGV: entry id,
// visibility (ms). The key holding this very entry id means this entry was claimed before
// by a worker that died: the claim is taken over.
var beginScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == 'sent' then
  redis.call('XACK', KEYS[2], 'senders', ARGV[1])
  redis.call('XDEL', KEYS[2], ARGV[1])
  return 1
end
if v and v ~= ARGV[1] then return 2 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 0
`)

func (q *RedisQueue) begin(ctx context.Context, d Delivery) (decision, error) {
	n, err := beginScript.Run(ctx, q.rdb, []string{q.sentKey(d.Message.ID), q.q}, d.ref,
		q.policy.Visibility.Milliseconds()).Int()
	if err != nil {
		return 0, fmt.Errorf("mail: claim: %w", err)
	}
	return decision(n), nil
}

// doneScript marks the message sent and acknowledges it, in one step. KEYS: sent:<id>, q.
// ARGV: entry id, sent TTL (ms).
var doneScript = redis.NewScript(`
redis.call('SET', KEYS[1], 'sent', 'PX', ARGV[2])
redis.call('XACK', KEYS[2], 'senders', ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
return 1
`)

func (q *RedisQueue) done(ctx context.Context, d Delivery) error {
	err := doneScript.Run(ctx, q.rdb, []string{q.sentKey(d.Message.ID), q.q}, d.ref,
		q.policy.SentTTL.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("mail: acknowledge: %w", err)
	}
	return nil
}

// failScript releases the claim and moves the entry to the retry set or the dead letters,
// in one step: the message is never in neither, nor in both. KEYS: sent:<id>, q, retry,
// dead. ARGV: entry id, next envelope, due (ms), dead (0/1), reason, max dead, now (ms).
var failScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if redis.call('XACK', KEYS[2], 'senders', ARGV[1]) == 0 then return -1 end
redis.call('XDEL', KEYS[2], ARGV[1])
if ARGV[4] == '1' then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'm', ARGV[2], 'reason', ARGV[5], 'at', ARGV[7])
  return 1
end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return 0
`)

func (q *RedisQueue) fail(ctx context.Context, d Delivery, cause error, permanent bool) (bool, error) {
	failures := d.Failures + 1
	dead := permanent || failures >= q.policy.MaxAttempts
	b, err := q.encode(envelope{Message: d.Message, Failures: failures})
	if err != nil {
		return false, err
	}
	now := q.clock.Now()
	due := now.Add(q.policy.backoff(failures))
	deadFlag := "0"
	if dead {
		deadFlag = "1"
	}
	// An entry already acknowledged by someone else (this worker lost it to another after
	// the visibility timeout) answers -1 and is left alone.
	_, err = failScript.Run(ctx, q.rdb, []string{q.sentKey(d.Message.ID), q.q, q.retry, q.dead},
		d.ref, b, due.UnixMilli(), deadFlag, reason(cause), q.policy.MaxDead, now.UnixMilli()).Int()
	if err != nil {
		return false, fmt.Errorf("mail: record a failure: %w", err)
	}
	return dead, nil
}

// reason shortens an error for the dead letters.
func reason(err error) string {
	s := err.Error()
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}

// DeadLetters returns up to n dead letters, oldest first.
func (q *RedisQueue) DeadLetters(ctx context.Context, n int) ([]DeadLetter, error) {
	xs, err := q.rdb.XRangeN(ctx, q.dead, "-", "+", int64(n)).Result()
	if err != nil {
		return nil, fmt.Errorf("mail: read dead letters: %w", err)
	}
	out := make([]DeadLetter, 0, len(xs))
	for _, x := range xs {
		s, _ := x.Values[fieldMsg].(string)
		e, _ := q.decodeEnvelope(s) // an undecodable one is listed with its reason only
		r, _ := x.Values["reason"].(string)
		at, _ := x.Values["at"].(string)
		ms, _ := strconv.ParseInt(at, 10, 64)
		out = append(out, DeadLetter{Message: e.Message, Failures: e.Failures, Reason: r, At: time.UnixMilli(ms)})
	}
	return out, nil
}

// Pending counts the messages not yet sent: waiting, being sent, or waiting for a retry.
func (q *RedisQueue) Pending(ctx context.Context) (int64, error) {
	var xl, zc *redis.IntCmd
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		xl = p.XLen(ctx, q.q)
		zc = p.ZCard(ctx, q.retry)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mail: count pending: %w", err)
	}
	return xl.Val() + zc.Val(), nil
}
