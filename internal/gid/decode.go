package gid

import (
	"encoding/base64"
	"fmt"
	"math"
	"strings"
)

// Errors of Decode, made once so a flood of bad input builds no new error values.
var (
	errEmpty       = fmt.Errorf("%w: empty", ErrInvalid)
	errTooLong     = fmt.Errorf("%w: too long", ErrInvalid)
	errNotPositive = fmt.Errorf("%w: not a positive integer", ErrInvalid)
	errLeadingZero = fmt.Errorf("%w: integer with a leading zero", ErrInvalid)
	errSign        = fmt.Errorf("%w: integer with a sign", ErrInvalid)
	errOverflow    = fmt.Errorf("%w: integer out of range", ErrInvalid)
	errMalformed   = fmt.Errorf("%w: not an object id", ErrInvalid)
)

// Decode reads an ObjectID as a client sends it: the base64 form, padded or not, in the
// standard or URL-safe alphabet, or a bare positive decimal integer.
//
// Integers are canonical: no sign, no leading zero, no whitespace, at most math.MaxInt64.
// "0130" is rejected rather than read as 130 because JSON numbers forbid leading zeros,
// some clients mean octal by them (0130 = 88) and guessing would pick the wrong object,
// and one spelling per id keeps ids usable as keys in logs, caches and rate limits.
//
// The two forms cannot be confused: every base64 id starts with "T" (from "N"), so an
// all-digit input is always the bare integer.
func Decode(s string) (ID, error) {
	switch {
	case s == "":
		return ID{}, errEmpty
	case len(s) > MaxLen:
		return ID{}, errTooLong
	}
	if allDigits(s) {
		n, err := parseInt(s)
		if err != nil {
			return ID{}, err
		}
		return ID{N: n}, nil
	}
	if (s[0] == '-' || s[0] == '+') && len(s) > 1 && allDigits(s[1:]) {
		return ID{}, errSign
	}
	payload, ok := decodeBase64(s)
	if !ok {
		return ID{}, errMalformed
	}
	return parsePayload(payload)
}

// parsePayload reads "N" + three-digit length + type name + integer.
func parsePayload(p []byte) (ID, error) {
	if len(p) < 4 || p[0] != 'N' || !isDigit(p[1]) || !isDigit(p[2]) || !isDigit(p[3]) {
		return ID{}, errMalformed
	}
	l := int(p[1]-'0')*100 + int(p[2]-'0')*10 + int(p[3]-'0')
	if l == 0 || len(p) < 4+l+1 {
		return ID{}, errMalformed
	}
	typ := string(p[4 : 4+l])
	if !validType(typ) {
		return ID{}, errMalformed
	}
	n, err := parseInt(string(p[4+l:]))
	if err != nil {
		return ID{}, err
	}
	return ID{Type: typ, N: n}, nil
}

// parseInt parses a canonical positive decimal int64: digits only, no leading zero.
func parseInt(s string) (int64, error) {
	switch {
	case s == "" || !allDigits(s):
		return 0, errMalformed
	case s == "0":
		return 0, errNotPositive
	case s[0] == '0':
		return 0, errLeadingZero
	}
	var n int64
	for i := 0; i < len(s); i++ {
		d := int64(s[i] - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, errOverflow
		}
		n = n*10 + d
	}
	return n, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// decodeBase64 decodes s in whichever alphabet it uses, padded or not. A string that
// mixes the alphabets fails, as do CR and LF (which encoding/base64 would skip) and
// non-zero trailing bits (Strict), so padding and alphabet are the only variations.
// (A valid payload is ASCII letters and digits, whose encoding never contains + / - or _,
// so in practice only padding varies; both alphabets are accepted, as the API documents.)
func decodeBase64(s string) ([]byte, bool) {
	url := strings.ContainsAny(s, "-_")
	padded := strings.HasSuffix(s, "=")
	if strings.ContainsAny(s, "\r\n") {
		return nil, false
	}
	var enc *base64.Encoding
	switch {
	case url && padded:
		enc = base64.URLEncoding
	case url:
		enc = base64.RawURLEncoding
	case padded:
		enc = base64.StdEncoding
	default:
		enc = base64.RawStdEncoding
	}
	b, err := enc.Strict().DecodeString(s)
	return b, err == nil
}
