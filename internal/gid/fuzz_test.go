package gid

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// FuzzDecode feeds each input to Decode twice: as is, and base64-encoded. The second pass
// lets the fuzzer mutate the payload ("N007UserKey130") directly; mutations of base64
// text rarely decode to anything that reaches the payload parser.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"TjAwN1VzZXJLZXkxMzA", "TjAwN1VzZXJLZXkxMzA=", "TjAwNFVzZXIx", "TjAwN1Nlc3Npb241",
		"N007UserKey130", "N004User1", "N007Session5", "N000130", "N009UserKey130", "N007UserKey130x",
		"130", "0130", "-1", "+1", "0", "9223372036854775808", "", " ", "TjAw=N1Vz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkDecode(t, s)
		checkDecode(t, base64.RawURLEncoding.EncodeToString([]byte(s)))
	})
}

// checkDecode asserts Decode's contract on one input: it never panics; errors wrap
// ErrInvalid, are short and never quote the input; whatever is accepted is positive and
// canonical enough to survive a round trip through Encode.
func checkDecode(t *testing.T, s string) {
	id, err := Decode(s)
	if err != nil {
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
		if id != (ID{}) {
			t.Fatalf("non-zero %+v returned with an error", id)
		}
		if len(s) >= 4 && strings.Contains(err.Error(), s) {
			t.Fatalf("error %q quotes its input", err)
		}
		if len(err.Error()) > 80 {
			t.Fatalf("error message too long for a client: %q", err)
		}
		return
	}
	if id.N <= 0 {
		t.Fatalf("accepted non-positive %+v", id)
	}
	if id.Type == "" {
		// A bare integer is accepted only in its one canonical spelling.
		if id.String() != s {
			t.Fatalf("bare integer %q decoded as %d", s, id.N)
		}
		return
	}
	again, err := Decode(Encode(id.Type, id.N))
	if err != nil || again != id {
		t.Fatalf("Decode(Encode(%+v)) = %+v, %v", id, again, err)
	}
	if n, err := id.As(id.Type); err != nil || n != id.N {
		t.Fatalf("%+v.As(own type) = %d, %v", id, n, err)
	}
}
