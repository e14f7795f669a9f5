package gid

import "testing"

func BenchmarkEncode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Encode("UserKey", 130)
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"object", "TjAwN1VzZXJLZXkxMzA"},
		{"bare", "130"},
		{"invalid", "not-an-id-at-all"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Decode(bc.in)
			}
		})
	}
}
