package argon2id

import (
	"context"
	"testing"
)

// The benchmarks use DefaultParams, the production cost. BenchmarkVerify and
// BenchmarkVerifyDummy should report about the same time and memory: that is the
// "unknown id costs as much as a wrong secret" property, checked by eye rather than by a
// flaky timing assertion.

func BenchmarkHash(b *testing.B) {
	h := newHasher(b, DefaultParams)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h := newHasher(b, DefaultParams)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, "wrong guess", enc); ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkVerifyDummy(b *testing.B) {
	h := newHasher(b, DefaultParams)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h.VerifyDummy(ctx, "wrong guess")
	}
}

func BenchmarkDecode(b *testing.B) {
	enc := referenceVectors[0].encoded
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}
