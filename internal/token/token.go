// Package token makes and recognises the opaque bearer strings authgraph hands out: session
// tokens, refresh tokens, user key secrets and the tokens sent by email.
//
// A token is a kind prefix, 43 base62 characters carrying 256 bits from crypto/rand, and a
// 6-character base62 CRC32 of everything before it, e.g. "ags_3kT…Qe7Xb1Zp". The prefix lets
// secret scanners recognise a leaked credential (as GitHub's "ghp_" does); the checksum lets
// both scanners and authgraph reject a mistyped or forged string without a store lookup.
// Tokens are stored only as their SHA-256 Digest.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"math/big"
	"strings"
)

// Kind says what a token is for. A token of one kind is never accepted as another.
type Kind int

const (
	// Session is an access token sent in x-auth-token or Authorization: Bearer.
	Session Kind = iota + 1
	// Refresh is a refresh token, only accepted by refreshSession.
	Refresh
	// UserKeySecret is the secret of an API user key.
	UserKeySecret
	// Emailed is a single-use token sent by email (a verification, reset, invitation or
	// sign-in link). Its own prefix lets a scanner tell a leaked link from a leaked session.
	Emailed
	// AppCode is the one-time code that authgraph's own provider sign-in hands an app at its
	// redirect URI, for createSessionUsingAuthorizationCode: single use, a minute long. Its
	// prefix tells it from a code of the provider's.
	AppCode
	// ServiceKeySecret is the secret of a service key, sent in x-api-key on every request.
	ServiceKeySecret
)

var prefixes = map[Kind]string{
	Session:       "ags_",
	Refresh:       "agr_",
	UserKeySecret: "agk_",
	Emailed:       "age_",
	AppCode:       "agc_",
	// "ags_" is taken by sessions: a service key is a machine's.
	ServiceKeySecret: "agm_",
}

const (
	prefixLen = 4
	bodyLen   = 43 // base62 digits needed for 256 bits
	sumLen    = 6  // base62 digits needed for 32 bits
	// Len is the length of every token.
	Len = prefixLen + bodyLen + sumLen
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformed is returned by Parse for a string that cannot be a token of the wanted kind.
var ErrMalformed = errors.New("token: malformed")

// New returns a fresh random token of the given kind.
func New(kind Kind) (string, error) {
	prefix, ok := prefixes[kind]
	if !ok {
		return "", errors.New("token: unknown kind")
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(Len)
	b.WriteString(prefix)
	b.WriteString(base62(new(big.Int).SetBytes(raw[:]), bodyLen))
	b.WriteString(base62(big.NewInt(int64(crc32.ChecksumIEEE([]byte(b.String())))), sumLen))
	return b.String(), nil
}

// Prefix answers the prefix of kind's tokens ("" for an unknown kind).
func Prefix(kind Kind) string { return prefixes[kind] }

// Check reports whether s is a well-formed token of the given kind: right prefix, length,
// alphabet and checksum. It does no I/O and allocates nothing.
func Check(kind Kind, s string) error {
	prefix, ok := prefixes[kind]
	if !ok || len(s) != Len || s[:prefixLen] != prefix {
		return ErrMalformed
	}
	for i := prefixLen; i < Len; i++ {
		if digit(s[i]) < 0 {
			return ErrMalformed
		}
	}
	var sum uint64
	for i := Len - sumLen; i < Len; i++ {
		sum = sum*62 + uint64(digit(s[i]))
	}
	if sum != uint64(crcString(s[:Len-sumLen])) {
		return ErrMalformed
	}
	return nil
}

// crcString is crc32.ChecksumIEEE([]byte(s)) without the copy of s, which would be allocated
// on the heap: Check runs on every authenticated request.
func crcString(s string) uint32 {
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = crc32.IEEETable[byte(crc)^s[i]] ^ crc>>8
	}
	return ^crc
}

// Digest is the SHA-256 of a token: the only form in which a token is ever stored.
type Digest [32]byte

// Sum returns the digest of a token. It allocates nothing for a string of a token's length
// (it runs on every authenticated request).
func Sum(s string) Digest {
	if len(s) <= Len {
		var buf [Len]byte
		return sha256.Sum256(buf[:copy(buf[:], s)])
	}
	return sha256.Sum256([]byte(s))
}

// String returns the digest in hex, for places that need text (never the token itself).
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

func base62(n *big.Int, width int) string {
	out := make([]byte, width)
	for i := range out {
		out[i] = '0'
	}
	base := big.NewInt(62)
	mod := new(big.Int)
	for i := width - 1; i >= 0 && n.Sign() > 0; i-- {
		n.QuoRem(n, base, mod)
		out[i] = alphabet[mod.Int64()]
	}
	return string(out)
}

func digit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
}
