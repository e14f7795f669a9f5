package audit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Writer is the Recorder the service is given: Record puts the event in a bounded buffer
// and returns at once, and one goroutine appends what the buffer holds to the Store in
// batches (one pipeline per batch for the Redis store). So recording costs a request no round
// trip, and a burst of sign-ins costs the store one write per batch rather than per event.
//
// The price is a loss window: events still in the buffer when the process dies (at most
// BufferSize, plus the batch being written) are lost; Close writes them on a graceful stop.
// When the buffer is full (the store slower than the events, or down), Record drops the
// event and counts it in Dropped rather than slow the request: the trail must never take
// sign-in down with it.
type Writer struct {
	store    Store
	ch       chan Event
	batch    int
	timeout  time.Duration
	dropped  atomic.Int64
	failed   atomic.Int64
	written  atomic.Int64
	queued   atomic.Int64
	done     chan struct{}
	once     sync.Once
	onError  func(error)
	mu       sync.Mutex
	complete func(context.Context, []Event)
}

// WriterOptions tunes a Writer; zero values mean the defaults.
type WriterOptions struct {
	BufferSize int           // events held before Record drops; default 10,000
	BatchSize  int           // most events per Append; default 256
	Timeout    time.Duration // bound of one Append; default 5 s
	OnError    func(error)   // told of a failed Append (its events are lost), e.g. to log it
}

// SetComplete installs fn, which the writer calls on each batch before appending it, off the
// request path: the service fills in there what the request did not know cheaply (the
// account of a user known only by id). Install it before the first Record.
func (w *Writer) SetComplete(fn func(context.Context, []Event)) {
	w.mu.Lock()
	w.complete = fn
	w.mu.Unlock()
}

// NewWriter starts a Writer on store. Close stops it.
func NewWriter(store Store, o WriterOptions) *Writer {
	if o.BufferSize <= 0 {
		o.BufferSize = 10_000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	w := &Writer{store: store, ch: make(chan Event, o.BufferSize), batch: o.BatchSize,
		timeout: o.Timeout, done: make(chan struct{}), onError: o.OnError}
	go w.run()
	return w
}

// Record implements Recorder: it never blocks.
func (w *Writer) Record(_ context.Context, e Event) {
	defer func() {
		if recover() != nil { // sent after Close: the process is stopping
			w.dropped.Add(1)
		}
	}()
	select {
	case w.ch <- e:
		w.queued.Add(1)
	default:
		w.dropped.Add(1)
	}
}

func (w *Writer) run() {
	defer close(w.done)
	buf := make([]Event, 0, w.batch)
	for e := range w.ch {
		buf = append(buf[:0], e)
	fill:
		for len(buf) < w.batch {
			select {
			case e, ok := <-w.ch:
				if !ok {
					break fill
				}
				buf = append(buf, e)
			default:
				break fill
			}
		}
		w.flush(buf)
	}
}

func (w *Writer) flush(buf []Event) {
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()
	w.mu.Lock()
	complete := w.complete
	w.mu.Unlock()
	if complete != nil {
		complete(ctx, buf)
	}
	if err := w.store.Append(ctx, buf); err != nil {
		w.failed.Add(int64(len(buf)))
		if w.onError != nil {
			w.onError(err)
		}
		return
	}
	w.written.Add(int64(len(buf)))
}

// Close stops taking events, writes those buffered, and returns when done or when ctx ends.
func (w *Writer) Close(ctx context.Context) error {
	w.once.Do(func() { close(w.ch) })
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Flush waits until every event recorded before the call has been handed to the store (or
// ctx ends). Tests use it; it polls, so it is not for the request path.
func (w *Writer) Flush(ctx context.Context) error {
	for {
		if w.written.Load()+w.failed.Load() >= w.queued.Load() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Stats are the Writer's counters since it started.
type Stats struct{ Written, Failed, Dropped int64 }

// Stats answers the counters: events written, lost to a failed Append, and dropped because
// the buffer was full.
func (w *Writer) Stats() Stats {
	return Stats{Written: w.written.Load(), Failed: w.failed.Load(), Dropped: w.dropped.Load()}
}

// List implements the reading half of a trail by asking the store.
func (w *Writer) List(ctx context.Context, q Query) (*Page, error) { return w.store.List(ctx, q) }
