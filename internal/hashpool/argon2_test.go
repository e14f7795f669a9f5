package hashpool

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/argon2id"
)

// 500 concurrent logins on real argon2id (19 MiB each) through a pool of 2 workers and 4
// places in the queue: 6 are hashed, the other 494 answered ErrBusy at once, and the heap
// stays within what 2 hashes need (twice over, for the garbage collector's slack) instead
// of the 9.5 GiB that 500 would.
func TestMemoryCeilingWithArgon2id(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes with real argon2id")
	}
	h, err := argon2id.New(argon2id.DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := h.Hash(context.Background(), "right")
	if err != nil {
		t.Fatal(err)
	}
	const n, workers, queue = 500, 2, 4
	p := New(h, workers, queue)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // samples the heap while the logins run
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	var wg sync.WaitGroup
	var ok, busy atomic.Int64
	var slowestBusy atomic.Int64 // nanoseconds; logged only: TestBoundsWorkersAndQueue proves
	// that ErrBusy never waits for a hash (its workers are gated shut), without a clock
	start := make(chan struct{})
	began := time.Now()
	for range n {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			match, _, err := p.Verify(context.Background(), "right", encoded)
			switch {
			case err == nil && match:
				ok.Add(1)
			case errors.Is(err, ErrBusy):
				busy.Add(1)
				for d := int64(time.Since(t0)); ; {
					if old := slowestBusy.Load(); d <= old || slowestBusy.CompareAndSwap(old, d) {
						break
					}
				}
			default:
				t.Errorf("Verify = %v, %v", match, err)
			}
		})
	}
	close(start)
	wg.Wait()
	elapsed := time.Since(began)
	close(stop)
	<-sampled

	const hashMem = 19456 << 10
	growth := int64(peak.Load()) - int64(base)
	t.Logf("%d verified, %d busy (slowest busy answer %v), in %v; heap peak %d MiB above the %d MiB base",
		ok.Load(), busy.Load(), time.Duration(slowestBusy.Load()).Round(time.Microsecond),
		elapsed.Round(time.Millisecond), growth>>20, base>>20)
	if ok.Load()+busy.Load() != n || ok.Load() < workers {
		t.Errorf("%d verified + %d busy, want %d in all and at least %d verified", ok.Load(), busy.Load(), n, workers)
	}
	if limit := int64(2*(workers+1)) * hashMem; growth > limit {
		t.Errorf("heap grew by %d MiB, want at most %d MiB", growth>>20, limit>>20)
	}
}
