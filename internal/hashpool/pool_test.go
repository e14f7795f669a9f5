package hashpool

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// fill starts n Verify calls on p and returns a channel of their errors.
func fill(p *Pool, n int) <-chan error {
	errs := make(chan error, n)
	for range n {
		go func() {
			_, _, err := p.Verify(context.Background(), "right", "$hash")
			errs <- err
		}()
	}
	return errs
}

func wantBusy(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrBusy) || !errors.Is(err, auth.ErrUnavailable) || auth.ErrorCode(err) != auth.CodeUnavailable {
		t.Errorf("%s: %v, want ErrBusy (503)", what, err)
	}
}

func TestBoundsWorkersAndQueue(t *testing.T) {
	g := newGated()
	p := New(g, 3, 5)
	errs := fill(p, 8)
	waitFor(t, "3 running and 5 queued", func() bool { return p.InFlight() == 3 && p.Queued() == 5 })
	if n := g.running.Load(); n != 3 {
		t.Errorf("inner runs %d calls, want 3", n)
	}

	// Full: the next callers are turned away at once, by every method.
	ctx := t.Context()
	wantBusy(t, "Verify", within(t, time.Second, func() error { _, _, err := p.Verify(ctx, "x", "y"); return err }))
	wantBusy(t, "Hash", within(t, time.Second, func() error { _, err := p.Hash(ctx, "x"); return err }))
	wantBusy(t, "VerifyDummyErr", within(t, time.Second, func() error { return p.VerifyDummyErr(ctx, "x") }))
	if n := p.Rejected(); n != 3 {
		t.Errorf("Rejected = %d, want 3", n)
	}

	g.open()
	for range 8 {
		if err := <-errs; err != nil {
			t.Errorf("admitted call: %v", err)
		}
	}
	if m := g.maxRunning.Load(); m != 3 {
		t.Errorf("at most %d ran at once, want 3", m)
	}
	if p.InFlight() != 0 || p.Queued() != 0 {
		t.Errorf("after all returned: InFlight %d, Queued %d, want 0, 0", p.InFlight(), p.Queued())
	}
	if p.WaitTotal() <= 0 {
		t.Error("WaitTotal = 0 after 5 callers waited")
	}
}

func TestNoQueue(t *testing.T) {
	g := newGated()
	p := New(g, 1, 0)
	errs := fill(p, 1)
	waitFor(t, "1 running", func() bool { return p.InFlight() == 1 })
	wantBusy(t, "second caller", within(t, time.Second, func() error { _, _, err := p.Verify(t.Context(), "x", "y"); return err }))
	g.open()
	if err := <-errs; err != nil {
		t.Error(err)
	}
}

// A caller whose context ends while it waits gets the context's error and gives its place
// in the queue to the next caller; its hash never runs.
func TestContextEndsWhileQueued(t *testing.T) {
	for _, tt := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		end  func(cancel context.CancelFunc) // makes the context end, or waits for it to
		want error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			func(cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 300*time.Millisecond)
		}, func(context.CancelFunc) {}, context.DeadlineExceeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newGated()
			p := New(g, 1, 1)
			running := fill(p, 1)
			waitFor(t, "1 running", func() bool { return p.InFlight() == 1 })

			ctx, cancel := tt.ctx()
			defer cancel()
			queued := make(chan error, 1)
			go func() { _, err := p.Hash(ctx, "x"); queued <- err }()
			waitFor(t, "1 queued", func() bool { return p.Queued() == 1 })
			wantBusy(t, "caller finding the queue full", within(t, time.Second, func() error { return p.VerifyDummyErr(t.Context(), "x") }))

			tt.end(cancel)
			if err := <-queued; !errors.Is(err, tt.want) {
				t.Fatalf("queued caller: %v, want %v", err, tt.want)
			}
			if p.Queued() != 0 {
				t.Fatalf("Queued = %d after the caller left, want 0", p.Queued())
			}
			next := fill(p, 1) // takes the freed place instead of ErrBusy
			waitFor(t, "the next caller queued", func() bool { return p.Queued() == 1 })
			g.open()
			for _, ch := range []<-chan error{running, next} {
				if err := <-ch; err != nil {
					t.Error(err)
				}
			}
			if n := g.calls.Load(); n != 2 {
				t.Errorf("inner ran %d calls, want 2 (not the one that left)", n)
			}
		})
	}
}

func TestContextAlreadyDone(t *testing.T) {
	g := newGated()
	p := New(g, 1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := p.Verify(ctx, "x", "y"); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with a done context: %v, want context.Canceled", err)
	}
	if g.calls.Load() != 0 || p.Rejected() != 0 || p.InFlight() != 0 {
		t.Error("a done context took a worker or counted as a rejection")
	}
}

// With the pool full, an unknown id (VerifyDummyErr) answers what a known one (Verify) does,
// so filling the pool tells an attacker nothing about which ids exist.
func TestUnknownIDAnswersAsKnownWhenBusy(t *testing.T) {
	g := newGated()
	p := New(g, 1, 0)
	errs := fill(p, 1)
	waitFor(t, "1 running", func() bool { return p.InFlight() == 1 })
	_, _, known := p.Verify(t.Context(), "x", "y")
	unknown := p.VerifyDummyErr(t.Context(), "x")
	if auth.ErrorCode(known) != auth.CodeUnavailable || auth.ErrorCode(unknown) != auth.ErrorCode(known) {
		t.Errorf("known id: %v; unknown id: %v; want both %s", known, unknown, auth.CodeUnavailable)
	}
	p.VerifyDummy(t.Context(), "x") // the auth.Hasher form drops ErrBusy, and does no work
	if n := g.dummies.Load(); n != 0 {
		t.Errorf("inner VerifyDummy ran %d times with the pool full", n)
	}
	g.open()
	if err := <-errs; err != nil {
		t.Error(err)
	}
	// Not busy: the dummy does the inner's work, on a worker.
	if err := p.VerifyDummyErr(t.Context(), "x"); err != nil || g.dummies.Load() != 1 {
		t.Errorf("VerifyDummyErr = %v after %d inner calls, want nil after 1", err, g.dummies.Load())
	}
	p.VerifyDummy(t.Context(), "x")
	if g.dummies.Load() != 2 {
		t.Error("VerifyDummy did not run the inner's")
	}
}

// errHasher answers fixed values, to check that the pool hands them on untouched.
type errHasher struct{ err error }

func (h errHasher) Hash(context.Context, string) (string, error) { return "$h", h.err }
func (h errHasher) Verify(context.Context, string, string) (bool, bool, error) {
	return true, true, h.err
}
func (errHasher) VerifyDummy(context.Context, string) {}

func TestPassesResultsThrough(t *testing.T) {
	boom := errors.New("boom")
	p := New(errHasher{boom}, 1, 1)
	if h, err := p.Hash(t.Context(), "x"); h != "$h" || err != boom {
		t.Errorf("Hash = %q, %v", h, err)
	}
	if ok, rehash, err := p.Verify(t.Context(), "x", "y"); !ok || !rehash || err != boom {
		t.Errorf("Verify = %v, %v, %v", ok, rehash, err)
	}
	if p.InFlight() != 0 {
		t.Error("a worker was not given back after an error")
	}
}

func TestDefaults(t *testing.T) {
	p := New(newGated(), 0, -1)
	if w := runtime.GOMAXPROCS(0); p.Workers() != w || p.QueueSize() != 2*w {
		t.Errorf("New(_, 0, -1): %d workers, queue %d; want %d, %d", p.Workers(), p.QueueSize(), w, 2*w)
	}
}

// Many callers at once, some giving up: every call ends as a result, ErrBusy or its context's
// error; no more than workers run at once; nothing is left held.
func TestRace(t *testing.T) {
	const n, workers = 200, 4
	g := &gatedHasher{gate: make(chan struct{}), hold: time.Millisecond}
	g.open()
	p := New(g, workers, 8)
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		ok, busy, gaveUp int
		start            = make(chan struct{})
		unexpected       []error
		ctx, cancelSome  = context.WithCancel(context.Background())
	)
	defer cancelSome()
	for i := range n {
		wg.Go(func() {
			c := context.Background()
			if i%2 == 0 {
				c = ctx
			}
			<-start
			var err error
			switch i % 3 {
			case 0:
				_, err = p.Hash(c, "x")
			case 1:
				_, _, err = p.Verify(c, "right", "$h")
			case 2:
				err = p.VerifyDummyErr(c, "x")
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrBusy):
				busy++
			case errors.Is(err, context.Canceled):
				gaveUp++
			default:
				unexpected = append(unexpected, err)
			}
		})
	}
	close(start)
	finished := make(chan struct{})
	go func() { // once the queue is full, the callers in it that can give up do
		defer cancelSome()
		for p.Queued() < 8 {
			select {
			case <-finished:
				return
			case <-time.After(50 * time.Microsecond):
			}
		}
	}()
	wg.Wait()
	close(finished)
	if len(unexpected) > 0 {
		t.Fatalf("%d unexpected errors, first: %v", len(unexpected), unexpected[0])
	}
	if ok+busy+gaveUp != n || ok < workers {
		t.Errorf("ok %d + busy %d + gave up %d, want %d in all and at least %d ok", ok, busy, gaveUp, n, workers)
	}
	if m := g.maxRunning.Load(); m > workers {
		t.Errorf("%d ran at once, want at most %d", m, workers)
	}
	if p.InFlight() != 0 || p.Queued() != 0 || len(p.admit) != 0 || len(p.run) != 0 {
		t.Errorf("left held: InFlight %d, Queued %d, admit %d, run %d", p.InFlight(), p.Queued(), len(p.admit), len(p.run))
	}
	t.Logf("ok %d, busy %d, gave up %d", ok, busy, gaveUp)
}
