package scalar

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/authgraph/authgraph/internal/gid"
)

// FuzzUnmarshalObjectID feeds UnmarshalObjectID every Go type a GraphQL literal or a JSON
// variable can reach it as (string, json.Number, int64, float64, bool, nil, list, object).
// Whatever the value, it never panics; a refusal wraps gid.ErrInvalid (BAD_USER_INPUT) with
// a short message that does not quote the input; an id it accepts is positive and comes
// back the same through MarshalObjectID and UnmarshalObjectID.
func FuzzUnmarshalObjectID(f *testing.F) {
	f.Add(uint8(0), "TjAwN1VzZXJLZXkxMzA", int64(0), 0.0)
	f.Add(uint8(0), "TjAwN1VzZXJLZXkxMzA==", int64(0), 0.0)
	f.Add(uint8(0), "TjAwN1VzZXJLZXkxMzA+/", int64(0), 0.0)
	f.Add(uint8(0), "130", int64(0), 0.0)
	f.Add(uint8(0), "", int64(0), 0.0)
	f.Add(uint8(0), "%%%", int64(0), 0.0)
	f.Add(uint8(1), "130", int64(0), 0.0)
	f.Add(uint8(1), "1e3", int64(0), 0.0)
	f.Add(uint8(1), "99999999999999999999", int64(0), 0.0)
	f.Add(uint8(1), "-5", int64(0), 0.0)
	f.Add(uint8(2), "", int64(130), 0.0)
	f.Add(uint8(2), "", int64(-1), 0.0)
	f.Add(uint8(2), "", int64(math.MaxInt64), 0.0)
	f.Add(uint8(3), "", int64(0), 130.0)
	f.Add(uint8(3), "", int64(0), 1.5)
	f.Add(uint8(3), "", int64(0), 1e300)
	f.Add(uint8(3), "", int64(0), math.NaN())
	f.Add(uint8(4), "", int64(0), 0.0)
	f.Fuzz(func(t *testing.T, kind uint8, s string, n int64, x float64) {
		var v any
		switch kind % 9 {
		case 0:
			v = s
		case 1:
			v = json.Number(s)
		case 2:
			v = n
		case 3:
			v = x
		case 4:
			v = int(n)
		case 5:
			v = int32(n)
		case 6:
			v = s == ""
		case 7:
			v = []any{s}
		case 8:
			v = map[string]any{s: n}
		}
		id, err := UnmarshalObjectID(v)
		if err != nil {
			if !errors.Is(err, gid.ErrInvalid) {
				t.Fatalf("%#v: error %v does not wrap gid.ErrInvalid", v, err)
			}
			if len(err.Error()) > 80 || len(s) >= 4 && strings.Contains(err.Error(), s) {
				t.Fatalf("%#v: error %q is long or quotes its input", v, err)
			}
			if id != (gid.ID{}) {
				t.Fatalf("%#v: %+v returned with an error", v, id)
			}
			return
		}
		if id.N <= 0 {
			t.Fatalf("%#v accepted as non-positive %+v", v, id)
		}
		var buf bytes.Buffer
		MarshalObjectID(id).MarshalGQL(&buf)
		var text string
		if err := json.Unmarshal(buf.Bytes(), &text); err != nil {
			t.Fatalf("%+v marshals to %q, not a JSON string", id, buf.String())
		}
		again, err := UnmarshalObjectID(text)
		if err != nil || again != id {
			t.Fatalf("%#v → %+v → %q → %+v, %v", v, id, text, again, err)
		}
	})
}
