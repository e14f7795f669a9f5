package redisbudget_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/redisbudget"
	"github.com/authgraph/authgraph/internal/redistest"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Only time with a command in flight is charged, overlapping commands once, and a command
// may run until what is left is used up.
func TestBudgetCharging(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	b := redisbudget.New(time.Second, c.now)

	d, ok := b.Begin()
	if !ok || !d.Equal(c.now().Add(time.Second)) {
		t.Fatalf("first command: deadline %v, %v", d, ok)
	}
	c.advance(300 * time.Millisecond)
	b.End()
	c.advance(time.Hour) // time between commands (hashing, say) is not charged
	if b.Used() != 300*time.Millisecond {
		t.Fatalf("used %v after one 300ms command", b.Used())
	}

	// Two commands in flight at once for 200ms are charged 200ms, not 400ms.
	d1, _ := b.Begin()
	c.advance(100 * time.Millisecond)
	d2, _ := b.Begin()
	if !d1.Equal(c.now().Add(600*time.Millisecond)) || !d2.Equal(d1) {
		t.Fatalf("deadlines %v %v: both must end when the budget does", d1, d2)
	}
	c.advance(100 * time.Millisecond)
	b.End()
	b.End()
	if b.Used() != 500*time.Millisecond {
		t.Fatalf("used %v, want 500ms", b.Used())
	}

	// A command that runs to its deadline uses everything; the next one is refused.
	d, _ = b.Begin()
	c.t = d
	b.End()
	if _, ok := b.Begin(); ok {
		t.Fatal("a command was let through with the budget used up")
	}
}

// Against a hung server, the first command of a request ends when the budget does (not
// after go-redis's 5s read timeout times its retries), and every later command of the
// request fails at once with ErrExhausted, without touching the network.
func TestHungRedisCostsOneBudget(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{
		Addr: redistest.Blackhole(t), ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		DialTimeout: 5 * time.Second, ContextTimeoutEnabled: true, Protocol: 2,
	})
	defer rdb.Close()
	rdb.AddHook(redisbudget.Hook{})

	b := redisbudget.New(200*time.Millisecond, nil)
	ctx := redisbudget.WithBudget(context.Background(), b)
	err := rdb.Get(ctx, "k").Err()
	if err == nil || errors.Is(err, redisbudget.ErrExhausted) {
		t.Fatalf("first command: %v; want the deadline's error", err)
	}
	for _, cmd := range []redis.Cmder{rdb.Get(ctx, "k"), rdb.Set(ctx, "k", "v", 0)} {
		if !errors.Is(cmd.Err(), redisbudget.ErrExhausted) {
			t.Fatalf("%s after the budget was used up: %v", cmd.Name(), cmd.Err())
		}
	}
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error { p.Get(ctx, "k"); return nil })
	if !errors.Is(err, redisbudget.ErrExhausted) {
		t.Fatalf("pipeline after the budget was used up: %v", err)
	}
}

// Against a live server, commands run and are charged; without a budget, or detached from
// it, they run whatever the budget says.
func TestBudgetOnALiveServer(t *testing.T) {
	rs := redistest.Start(t)
	rdb := rs.NewClient(func(o *redis.Options) { o.ContextTimeoutEnabled = true })
	rdb.AddHook(redisbudget.Hook{})
	key := rs.Prefix + "k"

	b := redisbudget.New(time.Second, nil)
	ctx := redisbudget.WithBudget(context.Background(), b)
	if err := rdb.Set(ctx, key, "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if b.Used() <= 0 {
		t.Fatal("a command was not charged")
	}

	c := &fakeClock{t: time.Unix(0, 0)}
	spent := redisbudget.New(time.Second, c.now)
	d, _ := spent.Begin()
	c.t = d
	spent.End()
	ctx = redisbudget.WithBudget(context.Background(), spent)
	if err := rdb.Get(ctx, key).Err(); !errors.Is(err, redisbudget.ErrExhausted) {
		t.Fatalf("with the budget spent: %v", err)
	}
	if v, err := rdb.Get(redisbudget.Detach(ctx), key).Result(); err != nil || v != "v" {
		t.Fatalf("detached: %q, %v", v, err)
	}
	if v, err := rdb.Get(context.Background(), key).Result(); err != nil || v != "v" {
		t.Fatalf("no budget: %q, %v", v, err)
	}
}
