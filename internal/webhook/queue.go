package webhook

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/seal"
)

// Redis layout. Every key holds the {wh} hash tag, so that all of them are in one Cluster
// slot and a MULTI may touch several:
//
//	{wh}:seq          endpoint ids
//	{wh}:ep           hash: endpoint id → the endpoint (JSON; its secret sealed under
//	                  AUTHGRAPH_SECRET_KEY when one is set)
//	{wh}:q            stream of deliveries due, read by the consumer group "deliverers"
//	{wh}:retry        sorted set of deliveries waiting for their next attempt, by due time
//	{wh}:log:<id>     stream of an endpoint's attempts (capped at LogMax, oldest trimmed)
//
// A delivery is acknowledged and deleted from the stream when it succeeds, is moved to the
// retry set when it fails, and is dropped when its endpoint is deleted or disabled. A
// replica that dies mid-delivery leaves it pending: another replica claims it once it has
// been idle for Visibility (XAUTOCLAIM), so it is delivered at least once.
const (
	group    = "deliverers"
	fieldJob = "j"
	// LogMax is about the most attempts kept per endpoint.
	LogMax = 1000
	// bodyPrefix is the most of an answer's body kept in the log.
	bodyPrefix = 256
)

// Endpoint is a registered receiver.
type Endpoint struct {
	ID        int64        `json:"id"`
	URL       string       `json:"url"`
	Types     []audit.Type `json:"types,omitempty"` // empty: every type
	Account   int64        `json:"account,omitempty"`
	Secret    string       `json:"secret"` // sealed in Redis; never shown after creation
	CreatedAt time.Time    `json:"createdAt"`
	// DisabledAt and DisabledReason are set when deliveries failed for MaxAge.
	DisabledAt     *time.Time `json:"disabledAt,omitempty"`
	DisabledReason string     `json:"disabledReason,omitempty"`
}

// Wants reports whether e is for this endpoint. An event that happened before the endpoint
// was created is not, even when the trail's writer appends it a moment later.
func (ep *Endpoint) Wants(e *audit.Event) bool {
	if ep.DisabledAt != nil || (ep.Account != 0 && ep.Account != e.AccountID) || e.Time.Before(ep.CreatedAt) {
		return false
	}
	return len(ep.Types) == 0 || slices.Contains(ep.Types, e.Type)
}

// Attempt is one entry of an endpoint's delivery log.
type Attempt struct {
	ID      string // the log entry's id
	MsgID   string // the webhook-id: the same for every attempt of one event
	Type    audit.Type
	Attempt int
	At      time.Time
	Status  int // 0: no answer
	Latency time.Duration
	Error   string // why it failed: the transport's error, or "status 500"
	Body    string // a prefix of the answer
	Payload string // the body sent (an event: nothing secret)
	Outcome string // "delivered", "retry", "disabled"
}

// job is a delivery: what the stream and the retry set hold.
type job struct {
	Endpoint int64      `json:"ep"`
	MsgID    string     `json:"id"`
	Type     audit.Type `json:"t"`
	Payload  string     `json:"p"`
	Attempt  int        `json:"n"`
	FirstAt  int64      `json:"f"` // unix ms of the first attempt's due time
	ref      string
}

// Queue is the webhooks' state in Redis, shared by the replicas.
type Queue struct {
	rdb   redis.UniversalClient
	clock clock.Clock
	box   *seal.Box
	k     string
}

// NewQueue returns the queue under prefix (the store's). box seals secrets at rest (nil: no
// sealing). The consumer group is made at the first read.
func NewQueue(rdb redis.UniversalClient, prefix string, c clock.Clock, box *seal.Box) *Queue {
	if c == nil {
		c = clock.Real{}
	}
	if box == nil {
		box = &seal.Box{}
	}
	return &Queue{rdb: rdb, clock: c, box: box, k: prefix + "{wh}:"}
}

var sealAD = []byte("authgraph webhook secret")

// CreateEndpoint registers an endpoint and answers it with its secret, which is shown only
// in this answer.
func (q *Queue) CreateEndpoint(ctx context.Context, rawURL string, types []audit.Type, account int64) (*Endpoint, error) {
	if _, err := CheckURL(rawURL); err != nil {
		return nil, err
	}
	id, err := q.rdb.Incr(ctx, q.k+"seq").Result()
	if err != nil {
		return nil, fmt.Errorf("webhook: new id: %w", err)
	}
	ep := &Endpoint{ID: id, URL: rawURL, Types: types, Account: account, Secret: NewSecret(), CreatedAt: q.clock.Now().UTC()}
	if err := q.put(ctx, ep); err != nil {
		return nil, err
	}
	return ep, nil
}

func (q *Queue) put(ctx context.Context, ep *Endpoint) error {
	stored := *ep
	sealed, err := q.box.Seal([]byte(ep.Secret), sealAD)
	if err != nil {
		return err
	}
	stored.Secret = string(sealed)
	b, _ := json.Marshal(stored)
	if err := q.rdb.HSet(ctx, q.k+"ep", strconv.FormatInt(ep.ID, 10), b).Err(); err != nil {
		return fmt.Errorf("webhook: save endpoint: %w", err)
	}
	return nil
}

func (q *Queue) decodeEndpoint(s string) (*Endpoint, error) {
	var ep Endpoint
	if err := json.Unmarshal([]byte(s), &ep); err != nil {
		return nil, fmt.Errorf("webhook: decode endpoint: %w", err)
	}
	secret, err := q.box.Open([]byte(ep.Secret), sealAD)
	if err != nil {
		return nil, fmt.Errorf("webhook: open endpoint secret: %w", err)
	}
	ep.Secret = string(secret)
	return &ep, nil
}

// ErrNotFound is answered for an endpoint or an event that does not exist.
var ErrNotFound = errors.New("webhook: not found")

// Endpoint answers one endpoint, with its secret (for signing; never show it).
func (q *Queue) Endpoint(ctx context.Context, id int64) (*Endpoint, error) {
	s, err := q.rdb.HGet(ctx, q.k+"ep", strconv.FormatInt(id, 10)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: read endpoint: %w", err)
	}
	return q.decodeEndpoint(s)
}

// Endpoints answers every endpoint, by id.
func (q *Queue) Endpoints(ctx context.Context) ([]*Endpoint, error) {
	all, err := q.rdb.HGetAll(ctx, q.k+"ep").Result()
	if err != nil {
		return nil, fmt.Errorf("webhook: list endpoints: %w", err)
	}
	out := make([]*Endpoint, 0, len(all))
	for _, s := range all {
		ep, err := q.decodeEndpoint(s)
		if err != nil {
			return nil, err
		}
		out = append(out, ep)
	}
	slices.SortFunc(out, func(a, b *Endpoint) int { return int(a.ID - b.ID) })
	return out, nil
}

// DeleteEndpoint deletes an endpoint and its log; its deliveries still queued are dropped
// when they come up.
func (q *Queue) DeleteEndpoint(ctx context.Context, id int64) error {
	n, err := q.rdb.HDel(ctx, q.k+"ep", strconv.FormatInt(id, 10)).Result()
	if err != nil {
		return fmt.Errorf("webhook: delete endpoint: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return q.rdb.Del(ctx, q.logKey(id)).Err()
}

func (q *Queue) logKey(id int64) string { return q.k + "log:" + strconv.FormatInt(id, 10) }

// Payload is the body of a delivery: the Standard Webhooks envelope of an audit event.
func Payload(e *audit.Event) string {
	data := map[string]any{
		"outcome": e.Outcome, "actorKind": e.ActorKind, "ip": e.IP, "userAgent": e.UserAgent,
		"clientName": e.ClientName,
	}
	for k, v := range map[string]int64{"actorUserId": e.ActorID, "actorUserKeyId": e.ActorKey,
		"userId": e.UserID, "accountId": e.AccountID, "sessionId": e.SessionID} {
		if v != 0 {
			data[k] = strconv.FormatInt(v, 10)
		}
	}
	if e.Reason != "" {
		data["reason"] = e.Reason
	}
	if e.Detail != "" {
		data["detail"] = e.Detail
	}
	b, _ := json.Marshal(map[string]any{"type": e.Type, "timestamp": e.Time.UTC().Format(time.RFC3339Nano), "data": data})
	return string(b)
}

func newMsgID() string {
	b := make([]byte, 15)
	_, _ = rand.Read(b)
	return "msg_" + strings.ToLower(base32.StdEncoding.EncodeToString(b))
}

// Enqueue queues a delivery of each event to each endpoint that wants it, in one pipeline.
func (q *Queue) Enqueue(ctx context.Context, endpoints []*Endpoint, events []audit.Event) error {
	now := q.clock.Now().UnixMilli()
	p := q.rdb.Pipeline()
	n := 0
	for i := range events {
		var payload string
		for _, ep := range endpoints {
			if !ep.Wants(&events[i]) {
				continue
			}
			if payload == "" {
				payload = Payload(&events[i])
			}
			b, _ := json.Marshal(job{Endpoint: ep.ID, MsgID: newMsgID(), Type: events[i].Type, Payload: payload, Attempt: 1, FirstAt: now})
			p.XAdd(ctx, &redis.XAddArgs{Stream: q.k + "q", Values: []any{fieldJob, string(b)}})
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if _, err := p.Exec(ctx); err != nil {
		return fmt.Errorf("webhook: enqueue: %w", err)
	}
	return nil
}

// Redeliver queues the event of an endpoint's log with that webhook-id again, as a first
// attempt (same id, so a receiver that saw it can tell).
func (q *Queue) Redeliver(ctx context.Context, endpoint int64, msgID string) error {
	log, err := q.Deliveries(ctx, endpoint, LogMax)
	if err != nil {
		return err
	}
	for _, a := range log {
		if a.MsgID == msgID {
			b, _ := json.Marshal(job{Endpoint: endpoint, MsgID: msgID, Type: a.Type, Payload: a.Payload, Attempt: 1, FirstAt: q.clock.Now().UnixMilli()})
			return q.rdb.XAdd(ctx, &redis.XAddArgs{Stream: q.k + "q", Values: []any{fieldJob, string(b)}}).Err()
		}
	}
	return ErrNotFound
}

// Deliveries answers an endpoint's latest attempts, newest first.
func (q *Queue) Deliveries(ctx context.Context, endpoint int64, n int) ([]Attempt, error) {
	xs, err := q.rdb.XRevRangeN(ctx, q.logKey(endpoint), "+", "-", int64(n)).Result()
	if err != nil {
		return nil, fmt.Errorf("webhook: read the delivery log: %w", err)
	}
	out := make([]Attempt, 0, len(xs))
	for _, x := range xs {
		s := func(f string) string { v, _ := x.Values[f].(string); return v }
		i := func(f string) int64 { v, _ := strconv.ParseInt(s(f), 10, 64); return v }
		out = append(out, Attempt{ID: x.ID, MsgID: s("id"), Type: audit.Type(s("t")), Attempt: int(i("n")),
			At: time.UnixMilli(i("at")).UTC(), Status: int(i("status")), Latency: time.Duration(i("us")) * time.Microsecond,
			Error: s("err"), Body: s("body"), Payload: s("p"), Outcome: s("o")})
	}
	return out, nil
}

var promoteScript = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'j', m)
  redis.call('ZREM', KEYS[1], m)
end
return #due
`)

func isNoGroup(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOGROUP") }

func (q *Queue) createGroup(ctx context.Context) error {
	err := q.rdb.XGroupCreateMkStream(ctx, q.k+"q", group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("webhook: create the consumer group: %w", err)
	}
	return nil
}

// receive answers deliveries for consumer: retries that fell due are moved to the stream,
// deliveries abandoned for visibility are claimed, else new ones are read (blocking poll).
func (q *Queue) receive(ctx context.Context, consumer string, max int, visibility, poll time.Duration) ([]job, error) {
	if err := promoteScript.Run(ctx, q.rdb, []string{q.k + "retry", q.k + "q"}, q.clock.Now().UnixMilli(), 100).Err(); err != nil {
		return nil, fmt.Errorf("webhook: promote retries: %w", err)
	}
	claimed, _, err := q.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: q.k + "q", Group: group,
		Consumer: consumer, MinIdle: visibility, Start: "0-0", Count: int64(max)}).Result()
	if isNoGroup(err) {
		return nil, q.createGroup(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: claim abandoned deliveries: %w", err)
	}
	msgs := claimed
	if len(msgs) == 0 {
		streams, err := q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: consumer,
			Streams: []string{q.k + "q", ">"}, Count: int64(max), Block: poll}).Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if isNoGroup(err) {
			return nil, q.createGroup(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("webhook: read the queue: %w", err)
		}
		for _, s := range streams {
			msgs = append(msgs, s.Messages...)
		}
	}
	out := make([]job, 0, len(msgs))
	for _, m := range msgs {
		var j job
		s, _ := m.Values[fieldJob].(string)
		if err := json.Unmarshal([]byte(s), &j); err != nil {
			q.drop(ctx, m.ID) // undecodable: it can never be delivered
			continue
		}
		j.ref = m.ID
		out = append(out, j)
	}
	return out, nil
}

func (q *Queue) drop(ctx context.Context, ref string) {
	_, _ = q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, q.k+"q", group, ref)
		p.XDel(ctx, q.k+"q", ref)
		return nil
	})
}

// finish logs an attempt and acknowledges the delivery, moving it to the retry set when
// next is not nil, in one MULTI (every key is in the {wh} slot).
func (q *Queue) finish(ctx context.Context, j job, a Attempt, next *job, due time.Time) error {
	_, err := q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: q.logKey(j.Endpoint), MaxLen: LogMax, Approx: true, Values: []any{
			"id", j.MsgID, "t", string(j.Type), "n", j.Attempt, "at", a.At.UnixMilli(), "status", a.Status,
			"us", a.Latency.Microseconds(), "err", a.Error, "body", a.Body, "p", j.Payload, "o", a.Outcome}})
		p.XAck(ctx, q.k+"q", group, j.ref)
		p.XDel(ctx, q.k+"q", j.ref)
		if next != nil {
			b, _ := json.Marshal(next)
			p.ZAdd(ctx, q.k+"retry", redis.Z{Score: float64(due.UnixMilli()), Member: string(b)})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("webhook: record an attempt: %w", err)
	}
	return nil
}

// disable marks an endpoint disabled with reason, unless it is gone.
func (q *Queue) disable(ctx context.Context, id int64, reason string) error {
	ep, err := q.Endpoint(ctx, id)
	if err != nil {
		return err
	}
	now := q.clock.Now().UTC()
	ep.DisabledAt, ep.DisabledReason = &now, reason
	return q.put(ctx, ep)
}
