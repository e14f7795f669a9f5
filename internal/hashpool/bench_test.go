package hashpool

import (
	"context"
	"testing"
)

// nopHasher does no work, so the benchmarks measure the pool alone.
type nopHasher struct{}

func (nopHasher) Hash(context.Context, string) (string, error)               { return "", nil }
func (nopHasher) Verify(context.Context, string, string) (bool, bool, error) { return true, false, nil }
func (nopHasher) VerifyDummy(context.Context, string)                        {}

// BenchmarkDirect is the baseline: the inner hasher without a pool.
func BenchmarkDirect(b *testing.B) {
	var h nopHasher
	ctx := context.Background()
	for b.Loop() {
		_, _, _ = h.Verify(ctx, "x", "y")
	}
}

// BenchmarkPool is one caller at a time: the cost of taking and giving back a worker.
func BenchmarkPool(b *testing.B) {
	p := New(nopHasher{}, 0, -1)
	ctx := context.Background()
	for b.Loop() {
		if _, _, err := p.Verify(ctx, "x", "y"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPoolContended has GOMAXPROCS callers on one worker, with room for all in the
// queue: the cost of waiting in it.
func BenchmarkPoolContended(b *testing.B) {
	p := New(nopHasher{}, 1, 1024)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := p.Verify(ctx, "x", "y"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
