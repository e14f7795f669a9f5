package argon2id

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// referenceVectors are Argon2id v=19 cases of the reference implementation's test suite
// (P-H-C/phc-winner-argon2, src/test.c): password "password", salt "somesalt", 32-byte tag.
// They were also checked against golang.org/x/crypto/argon2.IDKey.
var referenceVectors = []struct {
	p       Params
	encoded string
}{
	{Params{Memory: 65536, Time: 2, Threads: 1, SaltLen: 8, KeyLen: 32},
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
	{Params{Memory: 256, Time: 2, Threads: 1, SaltLen: 8, KeyLen: 32},
		"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"},
	{Params{Memory: 256, Time: 2, Threads: 2, SaltLen: 8, KeyLen: 32},
		"$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc"},
}

func TestReferenceVectors(t *testing.T) {
	ctx := context.Background()
	for _, v := range referenceVectors {
		t.Run(v.encoded, func(t *testing.T) {
			p, salt, key, err := Decode(v.encoded)
			if err != nil || p != v.p || string(salt) != "somesalt" {
				t.Fatalf("Decode = %+v, %q, %v; want %+v, \"somesalt\"", p, salt, err, v.p)
			}
			if got := encode(p, salt, key); got != v.encoded {
				t.Errorf("encode(Decode(s)) = %q, want s", got)
			}
			// A hasher with the vector's own params: match, nothing to upgrade.
			h := newHasher(t, v.p)
			if ok, rehash, err := h.Verify(ctx, "password", v.encoded); !ok || rehash || err != nil {
				t.Errorf("Verify(password) = (%v, %v, %v), want (true, false, nil)", ok, rehash, err)
			}
			if ok, _, err := h.Verify(ctx, "passwore", v.encoded); ok || err != nil {
				t.Errorf("Verify(passwore) = (%v, %v), want (false, nil)", ok, err)
			}
			// A hasher with other params still verifies it, and asks for an upgrade.
			if ok, rehash, err := newHasher(t, fast).Verify(ctx, "password", v.encoded); !ok || !rehash || err != nil {
				t.Errorf("fast Verify = (%v, %v, %v), want (true, true, nil)", ok, rehash, err)
			}
		})
	}
	// The tag of the first vector as printed in hex by the reference test suite.
	_, _, key, _ := Decode(referenceVectors[0].encoded)
	if got := hex.EncodeToString(key); got != "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7" {
		t.Errorf("reference tag = %s", got)
	}
}

// TestIndependentEncoding builds a PHC string with argon2.IDKey and fmt directly, without
// this package's encoder, and checks that Decode and Verify agree with it.
func TestIndependentEncoding(t *testing.T) {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte("s3cret"), salt, 3, 128, 2, 24)
	for _, enc := range []func([]byte) string{
		base64.RawStdEncoding.EncodeToString,
		base64.StdEncoding.EncodeToString, // padded is accepted too
	} {
		s := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", 128, 3, 2, enc(salt), enc(key))
		p, gotSalt, gotKey, err := Decode(s)
		want := Params{Memory: 128, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 24}
		if err != nil || p != want || !bytes.Equal(gotSalt, salt) || !bytes.Equal(gotKey, key) {
			t.Fatalf("Decode(%q) = %+v, %x, %x, %v", s, p, gotSalt, gotKey, err)
		}
		ok, rehash, err := newHasher(t, want).Verify(context.Background(), "s3cret", s)
		if !ok || rehash || err != nil {
			t.Fatalf("Verify(%q) = (%v, %v, %v)", s, ok, rehash, err)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	const (
		salt = "c29tZXNhbHQ"                                 // "somesalt"
		key  = "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc" // 32 bytes
	)
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"argon2d", "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"upper case alg", "$ARGON2ID$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"bcrypt", "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"v=16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"missing hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"missing salt and hash", "$argon2id$v=19$m=64,t=1,p=1"},
		{"empty hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"empty salt", "$argon2id$v=19$m=64,t=1,p=1$$" + key},
		{"extra field", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$x"},
		{"trailing dollar", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$"},
		{"missing param", "$argon2id$v=19$m=64,t=1$" + salt + "$" + key},
		{"params reordered", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"extra param", "$argon2id$v=19$m=64,t=1,p=1,keyid=abc$" + salt + "$" + key},
		{"space in params", "$argon2id$v=19$m=64, t=1,p=1$" + salt + "$" + key},
		{"empty number", "$argon2id$v=19$m=,t=1,p=1$" + salt + "$" + key},
		{"leading zero", "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key},
		{"plus sign", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key},
		{"negative", "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key},
		{"hex", "$argon2id$v=19$m=0x40,t=1,p=1$" + salt + "$" + key},
		{"huge m", "$argon2id$v=19$m=4194305,t=1,p=1$" + salt + "$" + key},
		{"uint64 overflow m", "$argon2id$v=19$m=18446744073709551616,t=1,p=1$" + salt + "$" + key},
		{"m=0", "$argon2id$v=19$m=0,t=1,p=1$" + salt + "$" + key},
		{"m below 8 per lane", "$argon2id$v=19$m=8,t=1,p=2$" + salt + "$" + key},
		{"t=0", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"t=101", "$argon2id$v=19$m=64,t=101,p=1$" + salt + "$" + key},
		{"p=0", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"p=256", "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key},
		{"bad base64 salt", "$argon2id$v=19$m=64,t=1,p=1$!!!!!!!!!!!$" + key},
		{"bad base64 hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:42] + "*"},
		{"url-safe alphabet", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$nf65EOgLrQMR_uIPnA4rEsF5h7TKyQwu9U1bMCHGi_4"},
		{"impossible length", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "AA"},
		{"non-zero trailing bits", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHR$" + key},
		{"wrong padding", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"padding in the middle", "$argon2id$v=19$m=64,t=1,p=1$c29t=ZXNhbHQ$" + key},
		{"newline in salt", "$argon2id$v=19$m=64,t=1,p=1$c29tZXN\nhbHQ$" + key},
		{"salt shorter than 8", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key},
		{"hash shorter than 16", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + base64.RawStdEncoding.EncodeToString(make([]byte, 15))},
		{"hash longer than 64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + base64.RawStdEncoding.EncodeToString(make([]byte, 65))},
		{"too long", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 300)},
		{"leading space", " $argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"trailing newline", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, s, k, err := Decode(tt.in)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%q) = %+v, %x, %x, %v; want ErrMalformed", tt.in, p, s, k, err)
			}
			if len(tt.in) > 0 && strings.Contains(err.Error(), tt.in) {
				t.Fatalf("error %q quotes its input", err)
			}
		})
	}
}

func TestDecodePaddedEqualsUnpadded(t *testing.T) {
	raw := "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	padded := "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ=$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4="
	p1, s1, k1, err1 := Decode(raw)
	p2, s2, k2, err2 := Decode(padded)
	if err1 != nil || err2 != nil || p1 != p2 || !bytes.Equal(s1, s2) || !bytes.Equal(k1, k2) {
		t.Fatalf("padded and unpadded differ: %v %v", err1, err2)
	}
}

func FuzzDecode(f *testing.F) {
	for _, v := range referenceVectors {
		f.Add(v.encoded)
	}
	f.Add("$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ=$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4=")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	f.Add("$argon2id$v=19$m=4194304,t=100,p=255$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		p, salt, key, err := Decode(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if len(in) >= 16 && strings.Contains(err.Error(), in) {
				t.Fatalf("error %q quotes its input", err)
			}
			return
		}
		// Whatever is accepted is safe to hand to argon2 and consistent with itself.
		if err := p.Validate(); err != nil {
			t.Fatalf("Decode accepted params failing Validate: %+v: %v", p, err)
		}
		if int(p.SaltLen) != len(salt) || int(p.KeyLen) != len(key) {
			t.Fatalf("lengths %+v disagree with %d-byte salt, %d-byte key", p, len(salt), len(key))
		}
		re := encode(p, salt, key)
		p2, salt2, key2, err := Decode(re)
		if err != nil || p2 != p || !bytes.Equal(salt2, salt) || !bytes.Equal(key2, key) {
			t.Fatalf("re-encoding %q as %q does not decode the same: %v", in, re, err)
		}
		// Without padding there is exactly one accepted spelling: the one encode writes.
		if strings.Count(in, "=") == 4 && re != in {
			t.Fatalf("unpadded %q re-encodes as %q", in, re)
		}
	})
}

// TestLongestEncodingDecodes: the largest parameters Validate allows produce a string that
// Decode's length limit still admits, padded or not.
func TestLongestEncodingDecodes(t *testing.T) {
	p := Params{Memory: maxMemory, Time: maxTime, Threads: 255, SaltLen: maxSaltLen, KeyLen: maxKeyLen}
	salt, key := bytes.Repeat([]byte{0xff}, maxSaltLen), bytes.Repeat([]byte{0xee}, maxKeyLen)
	raw := encode(p, salt, key)
	padded := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", p.Memory, p.Time, p.Threads,
		base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(key))
	for _, s := range []string{raw, padded} {
		if got, _, _, err := Decode(s); err != nil || got != p {
			t.Errorf("Decode(%d-char string) = %+v, %v", len(s), got, err)
		}
	}
}
