package token

import (
	"hash/crc32"
	"strings"
	"testing"
)

func TestNewIsWellFormedAndUnique(t *testing.T) {
	for _, kind := range []Kind{Session, Refresh, UserKeySecret, Emailed, AppCode} {
		seen := map[string]bool{}
		for i := 0; i < 200; i++ {
			s, err := New(kind)
			if err != nil {
				t.Fatal(err)
			}
			if len(s) != Len {
				t.Fatalf("len(%q) = %d, want %d", s, len(s), Len)
			}
			if err := Check(kind, s); err != nil {
				t.Fatalf("Check(%q) = %v", s, err)
			}
			if seen[s] {
				t.Fatalf("duplicate token %q", s)
			}
			seen[s] = true
		}
	}
}

func TestCheckRejects(t *testing.T) {
	good, _ := New(Session)
	flip := []byte(good)
	if flip[10] == 'a' {
		flip[10] = 'b'
	} else {
		flip[10] = 'a'
	}
	refresh, _ := New(Refresh)
	tests := []struct {
		name, s string
		kind    Kind
	}{
		{"empty", "", Session},
		{"short", good[:Len-1], Session},
		{"long", good + "0", Session},
		{"one character changed", string(flip), Session},
		{"other kind", refresh, Session},
		{"session as key secret", good, UserKeySecret},
		{"session as emailed token", good, Emailed},
		{"bad alphabet", good[:20] + "-" + good[21:], Session},
		{"unknown kind", good, Kind(99)},
		{"seed-style hex token", strings.Repeat("ab", 64), Session},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Check(tt.kind, tt.s); err == nil {
				t.Fatalf("Check(%q) accepted a bad token", tt.s)
			}
		})
	}
}

func TestSumIsSHA256(t *testing.T) {
	// echo -n abc | sha256sum
	if got := Sum("abc").String(); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("Sum(abc) = %s", got)
	}
}

func FuzzCheck(f *testing.F) {
	good, _ := New(Session)
	f.Add(good)
	f.Add("")
	f.Add("ags_")
	f.Add(strings.Repeat("z", Len))
	f.Fuzz(func(t *testing.T, s string) {
		for _, kind := range []Kind{Session, Refresh, UserKeySecret, Emailed, AppCode} {
			if Check(kind, s) == nil && (len(s) != Len || !strings.HasPrefix(s, prefixes[kind])) {
				t.Fatalf("accepted %q as kind %d", s, kind)
			}
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	s, _ := New(Session)
	b.ReportAllocs()
	for b.Loop() {
		if Check(Session, s) != nil {
			b.Fatal("rejected")
		}
	}
}

func TestCRCString(t *testing.T) {
	for _, s := range []string{"", "a", "ags_0123456789", strings.Repeat("xyz", 40)} {
		if got, want := crcString(s), crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Errorf("crcString(%q) = %x, want %x", s, got, want)
		}
	}
}

func TestCheckAndSumAllocateNothing(t *testing.T) {
	tok, err := New(Session)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if Check(Session, tok) != nil {
			t.Fatal("not valid")
		}
		_ = Sum(tok)
	}); n != 0 {
		t.Errorf("Check and Sum allocate %v times, want 0", n)
	}
}
