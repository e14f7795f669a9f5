package hashpool

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// ErrBusy is the answer when every worker is busy and the queue is full. It wraps
// auth.ErrUnavailable, so the transport answers 503 SERVICE_UNAVAILABLE.
var ErrBusy = fmt.Errorf("hashpool: all workers busy and the queue full: %w", auth.ErrUnavailable)

// Pool is an auth.Hasher that runs an inner one with bounded concurrency and a bounded
// queue. It is safe for concurrent use.
type Pool struct {
	inner          auth.Hasher
	workers, queue int

	// Semaphores, as buffered channels: a caller holds a token of admit from the moment it
	// is let in (running or waiting) until it is done, and a token of run while its hash
	// runs. Channel senders blocked on run are woken in the order they came.
	admit chan struct{} // capacity workers + queue
	run   chan struct{} // capacity workers

	inFlight atomic.Int64
	queued   atomic.Int64
	waited   atomic.Int64 // nanoseconds spent queued, by every caller so far
	rejected atomic.Uint64
}

var _ auth.Hasher = (*Pool)(nil)

// DefaultWorkers is the number of workers New uses when given none: GOMAXPROCS, the cores
// the process may use (the container's CPU limit, where there is one).
func DefaultWorkers() int { return runtime.GOMAXPROCS(0) }

// New returns a pool around inner running at most workers hashes at once (< 1 means
// DefaultWorkers) with at most queue callers waiting (< 0 means 2 × workers; 0 means none
// wait: a caller who finds every worker busy gets ErrBusy).
func New(inner auth.Hasher, workers, queue int) *Pool {
	if workers < 1 {
		workers = DefaultWorkers()
	}
	if queue < 0 {
		queue = 2 * workers
	}
	return &Pool{
		inner: inner, workers: workers, queue: queue,
		admit: make(chan struct{}, workers+queue),
		run:   make(chan struct{}, workers),
	}
}

// acquire takes a worker, waiting in the queue if there is room in it. It returns ErrBusy
// at once when there is not, and ctx's error if ctx ends first (leaving the queue).
func (p *Pool) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.admit <- struct{}{}:
	default:
		p.rejected.Add(1)
		return ErrBusy
	}
	select {
	case p.run <- struct{}{}:
		p.inFlight.Add(1)
		return nil
	default:
	}
	p.queued.Add(1)
	start := time.Now()
	defer func() {
		p.waited.Add(int64(time.Since(start)))
		p.queued.Add(-1)
	}()
	select {
	case p.run <- struct{}{}:
		p.inFlight.Add(1)
		return nil
	case <-ctx.Done():
		<-p.admit
		return ctx.Err()
	}
}

// release gives back what a successful acquire took.
func (p *Pool) release() {
	p.inFlight.Add(-1)
	<-p.run
	<-p.admit
}

// Workers returns the most hashes the pool runs at once.
func (p *Pool) Workers() int { return p.workers }

// QueueSize returns the most callers that may wait for a worker.
func (p *Pool) QueueSize() int { return p.queue }

// InFlight returns the number of hashes running now.
func (p *Pool) InFlight() int { return int(p.inFlight.Load()) }

// Queued returns the number of callers waiting for a worker now.
func (p *Pool) Queued() int { return int(p.queued.Load()) }

// WaitTotal returns the time callers have spent waiting for a worker, summed over all
// callers since the pool was made (a counter: its rate over the number of hashes is the
// mean wait).
func (p *Pool) WaitTotal() time.Duration { return time.Duration(p.waited.Load()) }

// Rejected returns how many callers have been answered ErrBusy since the pool was made.
func (p *Pool) Rejected() uint64 { return p.rejected.Load() }
