package webhook

import (
	"context"
	"sync"
	"time"

	"github.com/authgraph/authgraph/internal/audit"
)

// Fanout is the audit trail's store with webhooks: each batch the trail's writer appends is
// also queued for the endpoints that want its events, off the request path like the trail.
// The endpoints are read at most every CacheFor (default 2 s), so a new endpoint gets events
// from a couple of seconds after its creation, and a batch costs no read.
//
// The loss window is the trail's (audit.Writer): events still buffered when a replica dies
// are neither in the trail nor queued. Once queued, a delivery is made at least once.
type Fanout struct {
	audit.Store
	Queue    *Queue
	CacheFor time.Duration
	OnError  func(error)

	mu     sync.Mutex
	cached []*Endpoint
	readAt time.Time
}

// Append implements audit.Store.
func (f *Fanout) Append(ctx context.Context, events []audit.Event) error {
	err := f.Store.Append(ctx, events)
	if eps := f.endpoints(ctx); len(eps) > 0 {
		if qerr := f.Queue.Enqueue(ctx, eps, events); qerr != nil && f.OnError != nil {
			f.OnError(qerr)
		}
	}
	return err
}

// Forget drops the cached endpoints, so the next batch reads them (after a change made by
// this replica).
func (f *Fanout) Forget() {
	f.mu.Lock()
	f.readAt = time.Time{}
	f.mu.Unlock()
}

func (f *Fanout) endpoints(ctx context.Context) []*Endpoint {
	cacheFor := f.CacheFor
	if cacheFor <= 0 {
		cacheFor = 2 * time.Second
	}
	f.mu.Lock()
	if time.Since(f.readAt) < cacheFor {
		defer f.mu.Unlock()
		return f.cached
	}
	f.mu.Unlock()
	eps, err := f.Queue.Endpoints(ctx)
	if err != nil {
		if f.OnError != nil {
			f.OnError(err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.cached
	}
	live := eps[:0]
	for _, ep := range eps {
		if ep.DisabledAt == nil {
			live = append(live, ep)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cached, f.readAt = live, time.Now()
	return live
}
