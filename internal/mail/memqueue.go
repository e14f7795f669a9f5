package mail

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/authgraph/authgraph/internal/clock"
)

// MemQueue is the queue in the process, for the embedded store: the same claims, retries,
// dead letters and idempotency as RedisQueue, kept in memory. Like the embedded store it
// does not survive the process; it serves one replica, by design.
type MemQueue struct {
	renderer *Renderer
	clock    clock.Clock
	policy   Policy
	poll     time.Duration

	mu       sync.Mutex
	seq      uint64
	ready    []*memEntry          // in order of arrival
	retry    []*memEntry          // each with its due time
	inflight map[string]*memEntry // by ref, with the time it was taken
	marks    map[string]memMark   // by message ID
	dead     []DeadLetter
	dones    uint64
	wake     chan struct{}
}

type memEntry struct {
	ref      string
	env      envelope
	at       time.Time // due (retry) or taken (inflight)
	consumer string
}

// memMark is the idempotency key's state: a ref while being sent, "" once sent.
type memMark struct {
	ref   string
	until time.Time
}

// MemOptions configures a MemQueue.
type MemOptions struct {
	Policy Policy
	// Clock times retries, claims and marks; nil means the wall clock.
	Clock clock.Clock
	// Poll is how often an idle worker looks for retries that fell due (default 1 s).
	Poll time.Duration
}

// NewMemQueue returns an empty queue.
func NewMemQueue(renderer *Renderer, o MemOptions) *MemQueue {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	return &MemQueue{renderer: renderer, clock: o.Clock, policy: o.Policy.withDefaults(), poll: o.Poll,
		inflight: map[string]*memEntry{}, marks: map[string]memMark{}, wake: make(chan struct{}, 1)}
}

// Enqueue implements Queue.
func (q *MemQueue) Enqueue(_ context.Context, m Message) error {
	if err := q.renderer.check(m); err != nil {
		return err
	}
	m.Data = cloneData(m.Data) // the caller's map may change after the call
	q.mu.Lock()
	defer q.mu.Unlock()
	if mk, ok := q.marks[m.ID]; ok && mk.ref == "" && mk.until.After(q.clock.Now()) {
		return nil // already sent
	}
	if len(q.ready)+len(q.retry)+len(q.inflight) >= q.policy.MaxQueued {
		return ErrQueueFull
	}
	q.seq++
	q.ready = append(q.ready, &memEntry{ref: strconv.FormatUint(q.seq, 10), env: envelope{Message: m}})
	q.signal()
	return nil
}

func cloneData(d map[string]string) map[string]string {
	if d == nil {
		return nil
	}
	c := make(map[string]string, len(d))
	for k, v := range d {
		c[k] = v
	}
	return c
}

func (q *MemQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *MemQueue) receive(ctx context.Context, consumer string, max int) ([]Delivery, error) {
	if out := q.take(consumer, max); len(out) > 0 {
		return out, nil
	}
	t := time.NewTimer(q.poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-q.wake:
	case <-t.C:
	}
	return q.take(consumer, max), nil
}

// take moves due retries and abandoned messages back to ready, then hands out up to max.
func (q *MemQueue) take(consumer string, max int) []Delivery {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	keep := q.retry[:0]
	for _, e := range q.retry {
		if !e.at.After(now) {
			q.ready = append(q.ready, e)
		} else {
			keep = append(keep, e)
		}
	}
	q.retry = keep
	var out []Delivery
	// Abandoned first, as XAUTOCLAIM does for RedisQueue.
	for _, e := range q.inflight {
		if len(out) < max && now.Sub(e.at) >= q.policy.Visibility {
			e.at, e.consumer = now, consumer
			out = append(out, Delivery{Message: e.env.Message, Failures: e.env.Failures, ref: e.ref})
		}
	}
	for len(out) < max && len(q.ready) > 0 {
		e := q.ready[0]
		q.ready[0] = nil
		q.ready = q.ready[1:]
		e.at, e.consumer = now, consumer
		q.inflight[e.ref] = e
		out = append(out, Delivery{Message: e.env.Message, Failures: e.env.Failures, ref: e.ref})
	}
	if len(q.ready) > 0 {
		q.signal()
	}
	return out
}

func (q *MemQueue) begin(_ context.Context, d Delivery) (decision, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	mk, ok := q.marks[d.Message.ID]
	if ok && !mk.until.After(now) {
		delete(q.marks, d.Message.ID)
		ok = false
	}
	switch {
	case ok && mk.ref == "":
		delete(q.inflight, d.ref)
		return decideSkip, nil
	case ok && mk.ref != d.ref:
		return decideLater, nil
	}
	q.marks[d.Message.ID] = memMark{ref: d.ref, until: now.Add(q.policy.Visibility)}
	return decideSend, nil
}

func (q *MemQueue) done(_ context.Context, d Delivery) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	q.marks[d.Message.ID] = memMark{until: now.Add(q.policy.SentTTL)}
	delete(q.inflight, d.ref)
	// Expired marks are dropped on read; a sweep now and then keeps the ones never read
	// again from piling up.
	if q.dones++; q.dones%1024 == 0 {
		for id, mk := range q.marks {
			if !mk.until.After(now) {
				delete(q.marks, id)
			}
		}
	}
	return nil
}

func (q *MemQueue) fail(_ context.Context, d Delivery, cause error, permanent bool) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.inflight[d.ref]
	if !ok {
		return false, nil // acknowledged meanwhile by the worker that took it over
	}
	delete(q.inflight, d.ref)
	if mk, ok := q.marks[d.Message.ID]; ok && mk.ref == d.ref {
		delete(q.marks, d.Message.ID)
	}
	now := q.clock.Now()
	e.env.Failures = d.Failures + 1
	if permanent || e.env.Failures >= q.policy.MaxAttempts {
		q.dead = append(q.dead, DeadLetter{Message: e.env.Message, Failures: e.env.Failures, Reason: reason(cause), At: now})
		if len(q.dead) > q.policy.MaxDead {
			q.dead = q.dead[len(q.dead)-q.policy.MaxDead:]
		}
		return true, nil
	}
	e.at = now.Add(q.policy.backoff(e.env.Failures))
	q.retry = append(q.retry, e)
	return false, nil
}

// DeadLetters returns up to n dead letters, oldest first.
func (q *MemQueue) DeadLetters(_ context.Context, n int) ([]DeadLetter, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]DeadLetter(nil), q.dead[:min(n, len(q.dead))]...), nil
}

// Pending counts the messages not yet sent: waiting, being sent, or waiting for a retry.
func (q *MemQueue) Pending(context.Context) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int64(len(q.ready) + len(q.retry) + len(q.inflight)), nil
}
