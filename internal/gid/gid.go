// Package gid is the codec of ObjectID, the opaque global id of every GraphQL node.
//
// An id is written as unpadded URL-safe base64 of "N", the type name's length as three
// digits, the type name and the decimal integer id: user key 130 is "N007UserKey130",
// sent as "TjAwN1VzZXJLZXkxMzA". Clients may also send the bare integer ("130"), which
// carries no type and is read against the type the field expects (see ID.As).
//
// Decode's errors wrap ErrInvalid and have messages meant to be shown to a client: they
// never quote the input, which may be huge or hold something that must not be logged.
// The GraphQL scalar adapter lives elsewhere and calls this package.
package gid

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// ErrInvalid is wrapped by every error of this package.
var ErrInvalid = errors.New("invalid id")

// ID is a decoded ObjectID. Type is "" when the client sent a bare integer.
type ID struct {
	Type string
	N    int64
}

const (
	// MaxLen is the longest input Decode reads; longer input is rejected unparsed.
	MaxLen = 256
	// MaxTypeLen is the longest type name. With it and the largest int64 an encoded id
	// is 116 characters, well inside MaxLen.
	MaxTypeLen = 64
)

// Encode returns the ObjectID of object n of type typ.
//
// typ must be a type name ([A-Za-z][A-Za-z0-9]*, at most MaxTypeLen long) and n must be
// positive; Encode panics otherwise, because such an id could not be read back, and type
// names are constants of the program, so the mistake shows in the first test that runs it.
func Encode(typ string, n int64) string {
	if !validType(typ) {
		panic(fmt.Sprintf("gid: Encode: invalid type name %q", typ))
	}
	if n <= 0 {
		panic(fmt.Sprintf("gid: Encode: id %d is not positive", n))
	}
	var buf [4 + MaxTypeLen + 19]byte // "N" + 3 digits + type + int64
	p := append(buf[:0], 'N', byte('0'+len(typ)/100), byte('0'+len(typ)/10%10), byte('0'+len(typ)%10))
	p = append(p, typ...)
	p = strconv.AppendInt(p, n, 10)
	return base64.RawURLEncoding.EncodeToString(p)
}

// String returns the id as a client would send it: Encode(id.Type, id.N), or the bare
// integer when Type is "" (the form the client used).
func (id ID) String() string {
	if id.Type == "" {
		return strconv.FormatInt(id.N, 10)
	}
	return Encode(id.Type, id.N)
}

// FromInt makes an untyped ID from a JSON number; it must be positive.
func FromInt(n int64) (ID, error) {
	if n <= 0 {
		return ID{}, errNotPositive
	}
	return ID{N: n}, nil
}

// As returns the integer id if id names an object of type typ, or is a bare integer
// (which the field's type gives meaning to). An id of another type is an error, so a
// Session id can never be used where a UserKey id is expected.
func (id ID) As(typ string) (int64, error) {
	if id.N <= 0 {
		return 0, errNotPositive
	}
	if id.Type != "" && id.Type != typ {
		return 0, fmt.Errorf("%w: expected a %s id", ErrInvalid, typ)
	}
	return id.N, nil
}

// validType reports whether s is a type name: [A-Za-z][A-Za-z0-9]*, 1 to MaxTypeLen bytes.
func validType(s string) bool {
	if len(s) == 0 || len(s) > MaxTypeLen || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLetter(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
