// Package redisbudget bounds the total time one request may spend waiting on Redis.
//
// go-redis bounds each socket operation (dial, read, write), but one command may dial
// several times (DialerRetries), be retried (MaxRetries) with backoff in between, and wait
// for a pooled connection; and one request runs several commands (a login: the rate limit
// script, the user lookup, the session write…). Per-call timeouts multiply: with Redis hung
// rather than down, a request could wait many times AUTHGRAPH_REDIS_TIMEOUT.
//
// A Budget is put in the request's context (With) and a Hook on the client charges every
// command against it: the command runs with a deadline of what is left, and once the budget
// is used up, commands fail at once with ErrExhausted (which the stores report as
// unavailable: a 503). What is charged is the time the request had at least one command in
// flight, so concurrent commands are not charged twice, and time spent elsewhere (hashing)
// is not charged at all. The client must have ContextTimeoutEnabled, so that the deadline
// reaches the socket.
//
// Commands without a budget in their context (start-up, background work) keep go-redis's
// own bounds. Detach removes the budget, for work that must run even when the request's
// time is up (undoing a half-done write).
package redisbudget

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrExhausted is the error of a command whose request has used up its Redis time.
var ErrExhausted = errors.New("redisbudget: the request's time for Redis is used up")

// Budget is the Redis time one request may spend. It is safe for concurrent use.
type Budget struct {
	now   func() time.Time
	total time.Duration

	mu     sync.Mutex
	spent  time.Duration // charged for periods that have ended
	active int           // commands in flight
	since  time.Time     // when the current period with commands in flight began
}

// New returns a budget of total, read on clock now (nil: time.Now).
func New(total time.Duration, now func() time.Time) *Budget {
	if now == nil {
		now = time.Now
	}
	return &Budget{now: now, total: total}
}

// Used reports the time charged so far.
func (b *Budget) Used() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.usedLocked(b.now())
}

func (b *Budget) usedLocked(now time.Time) time.Duration {
	used := b.spent
	if b.active > 0 {
		used += now.Sub(b.since)
	}
	return used
}

// Begin starts charging a command and answers the deadline it must finish by, or false if
// nothing is left. Every Begin that answers true must be followed by one End.
func (b *Budget) Begin() (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	left := b.total - b.usedLocked(now)
	if left <= 0 {
		return time.Time{}, false
	}
	if b.active == 0 {
		b.since = now
	}
	b.active++
	return now.Add(left), true
}

// End stops charging a command.
func (b *Budget) End() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active--
	if b.active == 0 {
		b.spent += b.now().Sub(b.since)
	}
}

type key struct{}

// With returns ctx carrying a new budget of total.
func With(ctx context.Context, total time.Duration) context.Context {
	return WithBudget(ctx, New(total, nil))
}

// WithBudget returns ctx carrying b.
func WithBudget(ctx context.Context, b *Budget) context.Context {
	return context.WithValue(ctx, key{}, b)
}

// From returns the budget in ctx, or nil.
func From(ctx context.Context) *Budget {
	b, _ := ctx.Value(key{}).(*Budget)
	return b
}

// Detach returns ctx without its budget.
func Detach(ctx context.Context) context.Context {
	if From(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, key{}, (*Budget)(nil))
}

// Hook charges every command and pipeline against the budget in its context. Add it to the
// client with AddHook.
type Hook struct{}

var _ redis.Hook = Hook{}

// DialHook implements redis.Hook: dials happen inside a command, which is charged already.
func (Hook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

// ProcessHook implements redis.Hook.
func (Hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		ctx, done, err := enter(ctx)
		if err != nil {
			cmd.SetErr(err)
			return err
		}
		defer done()
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (Hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		ctx, done, err := enter(ctx)
		if err != nil {
			for _, c := range cmds {
				c.SetErr(err)
			}
			return err
		}
		defer done()
		return next(ctx, cmds)
	}
}

func enter(ctx context.Context) (context.Context, func(), error) {
	b := From(ctx)
	if b == nil {
		return ctx, func() {}, nil
	}
	deadline, ok := b.Begin()
	if !ok {
		return ctx, nil, ErrExhausted
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	return ctx, func() { cancel(); b.End() }, nil
}
