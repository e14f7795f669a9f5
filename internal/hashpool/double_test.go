package hashpool

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// gatedHasher is the inner hasher of the tests: each call counts itself as running, then
// blocks until the gate opens, so a test can fill the pool and look at it.
type gatedHasher struct {
	gate       chan struct{} // closed: every call may finish
	hold       time.Duration // how long a call runs once the gate is open
	running    atomic.Int64
	maxRunning atomic.Int64
	calls      atomic.Int64
	dummies    atomic.Int64
}

func newGated() *gatedHasher { return &gatedHasher{gate: make(chan struct{})} }

func (g *gatedHasher) open() { close(g.gate) }

func (g *gatedHasher) work() {
	g.calls.Add(1)
	n := g.running.Add(1)
	for {
		m := g.maxRunning.Load()
		if n <= m || g.maxRunning.CompareAndSwap(m, n) {
			break
		}
	}
	<-g.gate
	time.Sleep(g.hold)
	g.running.Add(-1)
}

func (g *gatedHasher) Hash(context.Context, string) (string, error) {
	g.work()
	return "$hash", nil
}

func (g *gatedHasher) Verify(_ context.Context, secret, _ string) (bool, bool, error) {
	g.work()
	return secret == "right", false, nil
}

func (g *gatedHasher) VerifyDummy(context.Context, string) {
	g.dummies.Add(1)
	g.work()
}

// waitFor polls cond until it holds, failing the test after 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// within runs f and fails the test if it has not returned within d: for calls that must not
// wait.
func within[T any](t *testing.T, d time.Duration, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(d):
		t.Fatalf("call blocked for more than %v", d)
		panic("unreachable")
	}
}
