package audit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/storetest"
)

func TestRingConformance(t *testing.T) {
	storetest.AuditStore(t, func(_ *testing.T, c clock.Clock) audit.Store { return audit.NewRing(1000, 0, c.Now) })
}

// The ring keeps its newest Size events, and none older than its retention.
func TestRingBounds(t *testing.T) {
	c := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r := audit.NewRing(10, time.Hour, c.Now)
	ctx := context.Background()
	for i := range 25 {
		_ = r.Append(ctx, []audit.Event{{Time: c.Now(), Type: audit.SignIn, AccountID: 1, SessionID: int64(i)}})
	}
	p, _ := r.List(ctx, audit.Query{Stream: audit.Stream{Account: 1}, Limit: 100})
	if len(p.Events) != 10 || p.Events[0].SessionID != 24 || p.Events[9].SessionID != 15 || p.More {
		t.Fatalf("%d events, more %v: %+v", len(p.Events), p.More, p.Events)
	}
	c.Advance(2 * time.Hour)
	_ = r.Append(ctx, []audit.Event{{Time: c.Now(), Type: audit.SignIn, AccountID: 1, SessionID: 99}})
	p, _ = r.List(ctx, audit.Query{Stream: audit.Stream{Account: 1}, Limit: 100})
	if len(p.Events) != 1 || p.Events[0].SessionID != 99 {
		t.Fatalf("retention: %+v", p.Events)
	}
	// A cursor the ring has forgotten answers an empty page, not an error.
	p, err := r.List(ctx, audit.Query{Stream: audit.Stream{Account: 1}, After: "3", Limit: 5})
	if err != nil || len(p.Events) != 0 {
		t.Fatalf("%+v %v", p, err)
	}
}

// slowStore blocks Append until released, and counts what it got.
type slowStore struct {
	*audit.Ring
	release chan struct{}
	mu      sync.Mutex
	batches int
}

func (s *slowStore) Append(ctx context.Context, ev []audit.Event) error {
	<-s.release
	s.mu.Lock()
	s.batches++
	s.mu.Unlock()
	return s.Ring.Append(ctx, ev)
}

// Record never blocks: with the store stuck, events beyond the buffer are dropped and
// counted, and Close writes what was buffered.
func TestWriterNeverBlocksAndCountsDrops(t *testing.T) {
	st := &slowStore{Ring: audit.NewRing(10_000, 0, nil), release: make(chan struct{})}
	w := audit.NewWriter(st, audit.WriterOptions{BufferSize: 100, BatchSize: 10})
	ctx := context.Background()
	start := time.Now()
	for range 1000 {
		w.Record(ctx, audit.Event{Type: audit.SignIn, AccountID: 1})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("1000 Records took %v with the store stuck", d)
	}
	close(st.release)
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s := w.Stats()
	if s.Written+s.Dropped != 1000 || s.Dropped < 800 || s.Written < 100 {
		t.Fatalf("stats %+v", s)
	}
	if st.batches >= int(s.Written) {
		t.Fatalf("%d batches for %d events: not batched", st.batches, s.Written)
	}
	w.Record(ctx, audit.Event{}) // after Close: dropped, no panic
	if w.Stats().Dropped != s.Dropped+1 {
		t.Fatal("a Record after Close was not counted as dropped")
	}
}

type failingStore struct{ *audit.Ring }

func (failingStore) Append(context.Context, []audit.Event) error { return errors.New("down") }

func TestWriterReportsFailedAppends(t *testing.T) {
	var mu sync.Mutex
	var errs int
	w := audit.NewWriter(failingStore{}, audit.WriterOptions{OnError: func(error) { mu.Lock(); errs++; mu.Unlock() }})
	w.Record(context.Background(), audit.Event{})
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if errs != 1 || w.Stats().Failed != 1 {
		t.Fatalf("errs %d, stats %+v", errs, w.Stats())
	}
}
