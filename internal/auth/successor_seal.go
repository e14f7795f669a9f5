package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"

	"github.com/authgraph/authgraph/internal/token"
)

// The successor pair of a rotation, sealed for the holders of the rotated token.
//
// Concurrent refreshes with one token must all answer the same successor pair, yet tokens are
// stored only as digests, from which no token can be given back. So the rotation keeps the
// pair encrypted with AES-256-GCM under a key derived by HKDF-SHA256 from the plaintext of the
// token it rotated, for the grace window only. Only a caller presenting that very token can
// derive the key; Redis (its memory, its dumps, its replicas) holds the token's SHA-256 and a
// ciphertext, neither of which gives the key, and after the window not even those.
//
// Considered and rejected: deriving the successor deterministically from the rotated token
// (nothing to store, but whoever steals any refresh token could compute every later one
// offline, defeating rotation); keeping the successor in plaintext for the window (a Redis
// read would hand out live tokens); a server-wide encryption key (one more long-lived secret
// to provision and rotate, and a leak of it opens every window at once).
//
// Layout: version byte 1 · 12-byte nonce · GCM(access ‖ refresh ‖ refresh expiry as Unix
// nanoseconds, big-endian), with the rotated token's digest as additional data, so that a
// sealed pair cannot be moved to another token's slot.

const (
	sealVersion = 1
	sealInfo    = "authgraph refresh successor v1"
)

// successor is the pair a rotation hands out.
type successor struct {
	Access, Refresh  string
	RefreshExpiresAt time.Time
}

var errSealed = errors.New("auth: sealed successor cannot be opened")

func sealKey(rotated string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(rotated), nil, sealInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts succ for whoever holds the token rotated.
func sealSuccessor(rotated string, succ successor) ([]byte, error) {
	aead, err := sealKey(rotated)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, 0, 2*token.Len+8)
	plain = append(plain, succ.Access...)
	plain = append(plain, succ.Refresh...)
	plain = binary.BigEndian.AppendUint64(plain, uint64(succ.RefreshExpiresAt.UnixNano()))
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	d := token.Sum(rotated)
	return aead.Seal(out, out[1:1+aead.NonceSize()], plain, d[:]), nil
}

// open decrypts what seal made for the token rotated.
func openSuccessor(rotated string, sealed []byte) (successor, error) {
	aead, err := sealKey(rotated)
	if err != nil {
		return successor{}, err
	}
	n := aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealVersion {
		return successor{}, errSealed
	}
	d := token.Sum(rotated)
	plain, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], d[:])
	if err != nil || len(plain) != 2*token.Len+8 {
		return successor{}, errSealed
	}
	succ := successor{
		Access:           string(plain[:token.Len]),
		Refresh:          string(plain[token.Len : 2*token.Len]),
		RefreshExpiresAt: time.Unix(0, int64(binary.BigEndian.Uint64(plain[2*token.Len:]))).UTC(),
	}
	if token.Check(token.Session, succ.Access) != nil || token.Check(token.Refresh, succ.Refresh) != nil {
		return successor{}, errSealed
	}
	return succ, nil
}
