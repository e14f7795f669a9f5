package gid

import (
	"encoding/base64"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestEncodeDesignExamples(t *testing.T) {
	tests := []struct {
		typ     string
		n       int64
		want    string
		payload string
	}{
		{"UserKey", 130, "TjAwN1VzZXJLZXkxMzA", "N007UserKey130"},
		{"User", 1, "TjAwNFVzZXIx", "N004User1"},
		{"Session", 5, "TjAwN1Nlc3Npb241", "N007Session5"},
	}
	for _, tt := range tests {
		t.Run(tt.payload, func(t *testing.T) {
			got := Encode(tt.typ, tt.n)
			if got != tt.want {
				t.Fatalf("Encode(%q, %d) = %q, want %q", tt.typ, tt.n, got, tt.want)
			}
			if raw, _ := base64.RawURLEncoding.DecodeString(got); string(raw) != tt.payload {
				t.Fatalf("payload = %q, want %q", raw, tt.payload)
			}
			if s := (ID{tt.typ, tt.n}).String(); s != tt.want {
				t.Fatalf("String() = %q, want %q", s, tt.want)
			}
			id, err := Decode(tt.want)
			if err != nil || id != (ID{tt.typ, tt.n}) {
				t.Fatalf("Decode(%q) = %+v, %v", tt.want, id, err)
			}
		})
	}
}

func TestEncodeLongest(t *testing.T) {
	typ := strings.Repeat("T", MaxTypeLen)
	s := Encode(typ, math.MaxInt64)
	if len(s) > MaxLen {
		t.Fatalf("longest id is %d characters, more than MaxLen %d", len(s), MaxLen)
	}
	if id, err := Decode(s); err != nil || id != (ID{typ, math.MaxInt64}) {
		t.Fatalf("Decode(longest) = %+v, %v", id, err)
	}
}

func TestEncodePanicsOnProgrammerError(t *testing.T) {
	for _, tt := range []struct {
		typ string
		n   int64
	}{
		{"", 1}, {"1User", 1}, {"User-Key", 1}, {"User Key", 1}, {strings.Repeat("a", MaxTypeLen+1), 1},
		{"User", 0}, {"User", -1}, {"User", math.MinInt64},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Encode(%q, %d) did not panic", tt.typ, tt.n)
				}
			}()
			Encode(tt.typ, tt.n)
		}()
	}
}

func TestStringBareInteger(t *testing.T) {
	if s := (ID{N: 130}).String(); s != "130" {
		t.Fatalf("String() = %q, want 130", s)
	}
	if s := (ID{}).String(); s != "0" { // the zero value must not panic in a log line
		t.Fatalf("zero ID String() = %q", s)
	}
}

func TestDecodeVariants(t *testing.T) {
	want := ID{"UserKey", 130}
	for _, s := range []string{
		"TjAwN1VzZXJLZXkxMzA",  // canonical: URL-safe, unpadded
		"TjAwN1VzZXJLZXkxMzA=", // padded
		base64.StdEncoding.EncodeToString([]byte("N007UserKey130")),
		base64.URLEncoding.EncodeToString([]byte("N007UserKey130")),
		base64.RawStdEncoding.EncodeToString([]byte("N007UserKey130")),
	} {
		if id, err := Decode(s); err != nil || id != want {
			t.Errorf("Decode(%q) = %+v, %v; want %+v", s, id, err, want)
		}
	}
	// Variants that only differ in alphabet: a payload with '>' or '?' encodes with
	// + / or - _. It is not a valid id, but both spellings must fail the same way.
	raw := []byte("N004User1>?")
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if _, err := Decode(enc.EncodeToString(raw)); !errors.Is(err, errMalformed) {
			t.Errorf("Decode(%q): err = %v, want errMalformed", enc.EncodeToString(raw), err)
		}
	}
}

func TestDecodeBareIntegers(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"1", 1},
		{"130", 130},
		{"9223372036854775807", math.MaxInt64},
	}
	for _, tt := range tests {
		id, err := Decode(tt.in)
		if err != nil || id != (ID{N: tt.want}) {
			t.Errorf("Decode(%q) = %+v, %v; want N=%d", tt.in, id, err, tt.want)
		}
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name, in string
		want     error // nil: any error wrapping ErrInvalid
	}{
		{"empty", "", errEmpty},
		{"space", " ", errMalformed},
		{"leading space", " 130", errMalformed},
		{"trailing space", "130 ", errMalformed},
		{"trailing newline", "130\n", errMalformed},
		{"tab inside base64", "TjAwN1Vz\tZXJLZXkxMzA", errMalformed},
		{"newline inside base64", "TjAwN1Vz\nZXJLZXkxMzA", errMalformed},
		{"plus sign", "+130", errSign},
		{"minus sign", "-130", errSign},
		{"zero", "0", errNotPositive},
		{"minus zero", "-0", errSign},
		{"leading zero", "0130", errLeadingZero},
		{"overflow", "9223372036854775808", errOverflow},
		{"way overflow", "99999999999999999999999999", errOverflow},
		{"decimal point", "130.0", errMalformed},
		{"exponent", "1e3", errMalformed},
		{"hex", "0x82", errMalformed},
		{"underscore digits", "1_000", errMalformed},
		{"too long", strings.Repeat("A", MaxLen+1), errTooLong},
		{"too long digits", strings.Repeat("1", MaxLen+1), errTooLong},
		{"not base64", "!!!!", errMalformed},
		{"base64 of garbage", b64("hello world"), errMalformed},
		{"impossible base64 length", "TjAwN1VzZXJLZXkxMzA" + "AA", errMalformed},
		{"non-zero trailing bits", "TjAwN1VzZXJLZXkxMzB", errMalformed},
		{"wrong padding", "TjAwN1VzZXJLZXkxMzA==", errMalformed},
		{"padding in the middle", "TjAw=N1VzZXJLZXkxMzA", errMalformed},
		{"mixed alphabets", base64.StdEncoding.EncodeToString([]byte("N004User1>?")) + "-_", errMalformed},
		{"lower-case n", b64("n007UserKey130"), errMalformed},
		{"no length", b64("NUserKey130"), errMalformed},
		{"short length field", b64("N07UserKey130"), errMalformed},
		{"length zero", b64("N000130"), errMalformed},
		{"length too short", b64("N006UserKey130"), errMalformed},
		{"length too long", b64("N099UserKey130"), errMalformed},
		{"length eats the number", b64("N010UserKey130"), errMalformed},
		{"length leaves only a zero", b64("N009UserKey130"), errNotPositive},
		{"type too long", b64("N065" + strings.Repeat("a", 65) + "1"), errMalformed},
		{"type starts with digit", b64("N0051User1"), errMalformed},
		{"type with dash", b64("N008User-Key130"), errMalformed},
		{"type with space", b64("N008User Key130"), errMalformed},
		{"type non-ASCII", b64("N005Üser1"), errMalformed},
		{"no number", b64("N007UserKey"), errMalformed},
		{"number zero", b64("N007UserKey0"), errNotPositive},
		{"number negative", b64("N007UserKey-130"), errMalformed},
		{"number with plus", b64("N007UserKey+130"), errMalformed},
		{"number leading zero", b64("N007UserKey0130"), errLeadingZero},
		{"number overflow", b64("N007UserKey9223372036854775808"), errOverflow},
		{"trailing garbage", b64("N007UserKey130x"), errMalformed},
		{"trailing NUL", b64("N007UserKey130\x00"), errMalformed},
		{"trailing newline in payload", b64("N007UserKey130\n"), errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := Decode(tt.in)
			if err == nil {
				t.Fatalf("Decode(%q) = %+v, want error", tt.in, id)
			}
			if !errors.Is(err, ErrInvalid) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("Decode(%q) error = %v, want %v", tt.in, err, tt.want)
			}
			if id != (ID{}) {
				t.Fatalf("Decode(%q) returned %+v with an error", tt.in, id)
			}
			if len(tt.in) >= 4 && strings.Contains(err.Error(), tt.in) {
				t.Fatalf("error %q quotes its input", err)
			}
		})
	}
}

// TestLengthShiftIsAnotherType: a length field off by one can still spell a well-formed id
// of another type ("N008UserKey130" is UserKey1 #30); As is what keeps it from being used
// as a UserKey id.
func TestLengthShiftIsAnotherType(t *testing.T) {
	id, err := Decode(b64("N008UserKey130"))
	if err != nil || id != (ID{"UserKey1", 30}) {
		t.Fatalf("Decode = %+v, %v", id, err)
	}
	if _, err := id.As("UserKey"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("As(UserKey) err = %v, want ErrInvalid", err)
	}
}

func TestFromInt(t *testing.T) {
	if id, err := FromInt(130); err != nil || id != (ID{N: 130}) {
		t.Fatalf("FromInt(130) = %+v, %v", id, err)
	}
	for _, n := range []int64{0, -1, math.MinInt64} {
		if _, err := FromInt(n); !errors.Is(err, ErrInvalid) {
			t.Errorf("FromInt(%d): err = %v, want ErrInvalid", n, err)
		}
	}
}

func TestAs(t *testing.T) {
	tests := []struct {
		id      ID
		typ     string
		want    int64
		wantErr string
	}{
		{ID{"UserKey", 130}, "UserKey", 130, ""},
		{ID{"", 130}, "UserKey", 130, ""},
		{ID{"", 130}, "Session", 130, ""},
		{ID{"Session", 5}, "UserKey", 0, "invalid id: expected a UserKey id"},
		{ID{"userkey", 5}, "UserKey", 0, "invalid id: expected a UserKey id"},
		{ID{}, "User", 0, "invalid id: not a positive integer"},
		{ID{"User", -1}, "User", 0, "invalid id: not a positive integer"},
	}
	for _, tt := range tests {
		n, err := tt.id.As(tt.typ)
		if tt.wantErr == "" {
			if err != nil || n != tt.want {
				t.Errorf("%+v.As(%q) = %d, %v; want %d", tt.id, tt.typ, n, err, tt.want)
			}
			continue
		}
		if n != 0 || !errors.Is(err, ErrInvalid) || err.Error() != tt.wantErr {
			t.Errorf("%+v.As(%q) = %d, %v; want error %q", tt.id, tt.typ, n, err, tt.wantErr)
		}
	}
}

// TestRoundTripProperty checks Decode(Encode(t, n)) == {t, n}, in every accepted
// spelling, for many random type names and ids (fixed seed: failures reproduce).
func TestRoundTripProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	const alnum = letters + "0123456789"
	for i := range 20000 {
		b := make([]byte, 1+r.IntN(MaxTypeLen))
		b[0] = letters[r.IntN(len(letters))]
		for j := 1; j < len(b); j++ {
			b[j] = alnum[r.IntN(len(alnum))]
		}
		typ := string(b)
		var n int64
		switch i % 3 {
		case 0:
			n = 1 + r.Int64N(1000) // small ids, the common case
		case 1:
			n = math.MaxInt64 - r.Int64N(1000) // near the top
		default:
			n = 1 + r.Int64N(math.MaxInt64)
		}
		want := ID{typ, n}
		s := Encode(typ, n)
		payload, _ := base64.RawURLEncoding.DecodeString(s)
		for _, in := range []string{s, base64.StdEncoding.EncodeToString(payload), base64.URLEncoding.EncodeToString(payload)} {
			if got, err := Decode(in); err != nil || got != want {
				t.Fatalf("Decode(%q) = %+v, %v; want %+v", in, got, err, want)
			}
		}
		if got, err := Decode(want.String()); err != nil || got != want {
			t.Fatalf("Decode(String()) = %+v, %v; want %+v", got, err, want)
		}
		if got, err := Decode(ID{N: n}.String()); err != nil || got != (ID{N: n}) {
			t.Fatalf("bare %d: Decode = %+v, %v", n, got, err)
		}
	}
}
