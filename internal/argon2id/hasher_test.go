package argon2id

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// fast keeps unit tests quick; tests about the defaults use DefaultParams.
var fast = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newHasher(t testing.TB, p Params) *Hasher {
	t.Helper()
	h, err := New(p)
	if err != nil {
		t.Fatalf("New(%+v): %v", p, err)
	}
	return h
}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, fast)
	tests := []struct {
		name, secret, attempt string
		want                  bool
	}{
		{"match", "correct horse battery staple", "correct horse battery staple", true},
		{"wrong secret", "correct horse battery staple", "correct horse battery stapler", false},
		{"empty secret matches itself", "", "", true},
		{"empty attempt", "s3cret", "", false},
		{"case matters", "Secret", "secret", false},
		{"unicode", "pässwörd🔑", "pässwörd🔑", true},
		{"NUL is significant", "a\x00b", "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := h.Hash(ctx, tt.secret)
			if err != nil {
				t.Fatal(err)
			}
			ok, rehash, err := h.Verify(ctx, tt.attempt, enc)
			if err != nil || ok != tt.want || rehash {
				t.Fatalf("Verify = (%v, %v, %v), want (%v, false, nil)", ok, rehash, err, tt.want)
			}
		})
	}
}

func TestHashUsesFreshSalt(t *testing.T) {
	h := newHasher(t, fast)
	a, _ := h.Hash(context.Background(), "same")
	b, _ := h.Hash(context.Background(), "same")
	if a == b {
		t.Fatal("two hashes of the same secret are equal: salt is not random")
	}
}

// phcDefault is the PHC form of the default parameters.
var phcDefault = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashFormatDefaults(t *testing.T) {
	h := newHasher(t, DefaultParams)
	enc, err := h.Hash(context.Background(), "hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if !phcDefault.MatchString(enc) {
		t.Fatalf("Hash = %q, does not match %v", enc, phcDefault)
	}
	p, salt, key, err := Decode(enc)
	if err != nil || p != DefaultParams || len(salt) != 16 || len(key) != 32 {
		t.Fatalf("Decode(Hash) = %+v, %d-byte salt, %d-byte key, %v", p, len(salt), len(key), err)
	}
	if ok, rehash, err := h.Verify(context.Background(), "hunter2", enc); !ok || rehash || err != nil {
		t.Fatalf("Verify = (%v, %v, %v)", ok, rehash, err)
	}
}

func TestNeedsRehash(t *testing.T) {
	ctx := context.Background()
	old := newHasher(t, fast)
	enc, err := old.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*Params)
		want bool
	}{
		{"same params", func(*Params) {}, false},
		{"memory raised", func(p *Params) { p.Memory = 128 }, true},
		{"time raised", func(p *Params) { p.Time = 2 }, true},
		{"threads changed", func(p *Params) { p.Threads = 2 }, true},
		{"salt length changed", func(p *Params) { p.SaltLen = 32 }, true},
		{"key length changed", func(p *Params) { p.KeyLen = 64 }, true},
		{"memory lowered", func(p *Params) { p.Memory = 32 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fast
			tt.edit(&p)
			h := newHasher(t, p)
			ok, rehash, err := h.Verify(ctx, "pw", enc)
			if err != nil || !ok || rehash != tt.want {
				t.Fatalf("Verify = (%v, %v, %v), want (true, %v, nil)", ok, rehash, err, tt.want)
			}
			// A wrong secret never asks for a rehash: there is nothing to store.
			if ok, rehash, _ := h.Verify(ctx, "wrong", enc); ok || rehash {
				t.Fatalf("Verify(wrong) = (%v, %v), want (false, false)", ok, rehash)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	h := newHasher(t, fast)
	const secret = "do-not-leak-me"
	ok, rehash, err := h.Verify(context.Background(), secret, "$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	if ok || rehash || !errors.Is(err, ErrMalformed) {
		t.Fatalf("Verify = (%v, %v, %v), want ErrMalformed", ok, rehash, err)
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "c29tZXNhbHQ") {
		t.Fatalf("error %q quotes its input", err)
	}
}

func TestContextCanceled(t *testing.T) {
	h := newHasher(t, fast)
	enc, _ := h.Hash(context.Background(), "pw")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash: err = %v, want context.Canceled", err)
	}
	if ok, _, err := h.Verify(ctx, "pw", enc); ok || !errors.Is(err, context.Canceled) {
		t.Errorf("Verify: (%v, %v), want (false, context.Canceled)", ok, err)
	}
	h.VerifyDummy(ctx, "pw") // must not panic
}

func TestVerifyDummy(t *testing.T) {
	h := newHasher(t, fast)
	p, _, _, err := Decode(h.dummy)
	if err != nil || p != h.Params() {
		t.Fatalf("dummy hash params = %+v, %v; want %+v", p, err, h.Params())
	}
	h.VerifyDummy(context.Background(), "anything")
}

func TestParams(t *testing.T) {
	if got := newHasher(t, fast).Params(); got != fast {
		t.Fatalf("Params() = %+v, want %+v", got, fast)
	}
}
