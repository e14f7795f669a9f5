package argon2id

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrMalformed is returned for a stored hash that is not an Argon2id v=19 PHC string within
// this package's bounds. Errors wrapping it never quote the input.
var ErrMalformed = errors.New("argon2id: malformed hash")

const (
	phcPrefix = "$argon2id$v=19$"
	// maxEncodedLen bounds the input before any parsing: the longest string Encode can
	// produce ("m=4194304,t=100,p=255", 64-byte salt and key, padded) is well under it.
	maxEncodedLen = 256
)

// encode writes the PHC string of a hash: "$argon2id$v=19$m=..,t=..,p=..$salt$key", with
// salt and key in unpadded standard base64 as the reference implementation does.
func encode(p Params, salt, key []byte) string {
	b := make([]byte, 0, len(phcPrefix)+32+base64.RawStdEncoding.EncodedLen(len(salt))+base64.RawStdEncoding.EncodedLen(len(key)))
	b = append(b, phcPrefix...)
	b = append(b, "m="...)
	b = strconv.AppendUint(b, uint64(p.Memory), 10)
	b = append(b, ",t="...)
	b = strconv.AppendUint(b, uint64(p.Time), 10)
	b = append(b, ",p="...)
	b = strconv.AppendUint(b, uint64(p.Threads), 10)
	b = append(b, '$')
	b = base64.RawStdEncoding.AppendEncode(b, salt)
	b = append(b, '$')
	b = base64.RawStdEncoding.AppendEncode(b, key)
	return string(b)
}

// Decode parses an Argon2id PHC string strictly: exactly
// "$argon2id$v=19$m=<m>,t=<t>,p=<p>$<salt>$<key>", canonical decimal numbers, and salt and
// key in standard base64, unpadded or padded. The returned Params carry the salt and key
// lengths. Anything else, including parameters outside Validate's bounds, is ErrMalformed:
// a hostile or corrupted stored value can neither crash the caller nor make it allocate or
// compute without bound.
func Decode(encoded string) (Params, []byte, []byte, error) {
	if len(encoded) > maxEncodedLen {
		return Params{}, nil, nil, malformed("too long")
	}
	rest, ok := strings.CutPrefix(encoded, phcPrefix)
	if !ok {
		return Params{}, nil, nil, malformed("not an argon2id v=19 hash")
	}
	fields := strings.Split(rest, "$")
	if len(fields) != 3 {
		return Params{}, nil, nil, malformed("wrong number of fields")
	}
	p, err := decodeParams(fields[0])
	if err != nil {
		return Params{}, nil, nil, err
	}
	salt, err := decodeB64(fields[1])
	if err != nil {
		return Params{}, nil, nil, malformed("bad salt encoding")
	}
	key, err := decodeB64(fields[2])
	if err != nil {
		return Params{}, nil, nil, malformed("bad hash encoding")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.Validate(); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return p, salt, key, nil
}

// decodeParams parses "m=<m>,t=<t>,p=<p>" in exactly that order.
func decodeParams(s string) (Params, error) {
	var vals [3]uint64
	names := [3]string{"m=", "t=", "p="}
	limits := [3]uint64{maxMemory, maxTime, 255}
	parts := strings.Split(s, ",")
	if len(parts) != len(names) {
		return Params{}, malformed("bad parameter list")
	}
	for i, part := range parts {
		digits, ok := strings.CutPrefix(part, names[i])
		if !ok {
			return Params{}, malformed("bad parameter list")
		}
		v, ok := parseDecimal(digits, limits[i])
		if !ok {
			return Params{}, malformed("parameter " + names[i][:1] + " out of range")
		}
		vals[i] = v
	}
	return Params{Memory: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2])}, nil
}

// parseDecimal parses a canonical decimal number: digits only, no sign, no leading zero,
// at most max. Canonical form keeps the encoding of a hash unique.
func parseDecimal(s string, max uint64) (uint64, bool) {
	if s == "" || len(s) > 20 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
		if v > max {
			return 0, false
		}
	}
	return v, true
}

// decodeB64 decodes standard-alphabet base64, padded or not. Strict mode rejects non-zero
// trailing bits and the explicit alphabet check rejects the CR/LF that encoding/base64
// otherwise skips, so each byte string has exactly one accepted unpadded spelling.
func decodeB64(s string) ([]byte, error) {
	body := strings.TrimRight(s, "=")
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, ErrMalformed
		}
	}
	if len(body) != len(s) {
		return base64.StdEncoding.Strict().DecodeString(s)
	}
	return base64.RawStdEncoding.Strict().DecodeString(s)
}

func malformed(reason string) error {
	return fmt.Errorf("%w: %s", ErrMalformed, reason)
}
