// Package seal protects small secrets at rest (TOTP secrets) with AES-256-GCM under the
// operator's AUTHGRAPH_SECRET_KEY, or, without a key, marks them as stored in plaintext.
//
// A sealed value starts with a format byte:
//
//	'P' plaintext                        no key was configured when it was written
//	 1  12-byte nonce · ciphertext · tag  AES-256-GCM under the key
//
// The caller's associated data (for TOTP: the owner's user id) is authenticated but not
// stored, so a sealed value copied onto another record does not open there.
//
// A plaintext value still opens once a key is configured (so adding a key never locks anyone
// out); it is re-sealed only when rewritten. An encrypted value never opens without the key.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeyLen is the length of a key: AES-256.
const KeyLen = 32

const (
	formatPlain     = 'P'
	formatAES256GCM = 1
)

// ErrOpen is wrapped by every error of Open: the value is corrupt, was sealed for other
// associated data or under another key, or is encrypted and no key is configured. Its text
// never holds the value.
var ErrOpen = errors.New("seal: cannot open value")

// Box seals and opens values. The zero Box and a Box made from an empty key store values in
// plaintext. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box that encrypts under key (KeyLen bytes), or a plaintext Box if key is empty.
func New(key []byte) (*Box, error) {
	if len(key) == 0 {
		return &Box{}, nil
	}
	if len(key) != KeyLen {
		return nil, fmt.Errorf("seal: key must be %d bytes, not %d", KeyLen, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Encrypts reports whether the box encrypts (a key is configured).
func (b *Box) Encrypts() bool { return b != nil && b.aead != nil }

// Seal returns plaintext in sealed form, bound to ad.
func (b *Box) Seal(plaintext, ad []byte) ([]byte, error) {
	if !b.Encrypts() {
		return append([]byte{formatPlain}, plaintext...), nil
	}
	out := make([]byte, 1+b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	out[0] = formatAES256GCM
	// Random 96-bit nonces: safe for far more than 2^32 seals under one key, and one user
	// enrols a handful of times at most.
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return b.aead.Seal(out, out[1:], plaintext, ad), nil
}

// Open returns the plaintext of a value made by Seal with the same ad.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrOpen)
	}
	switch sealed[0] {
	case formatPlain:
		return append([]byte(nil), sealed[1:]...), nil
	case formatAES256GCM:
		if !b.Encrypts() {
			return nil, fmt.Errorf("%w: encrypted, and no key is configured", ErrOpen)
		}
		ns := b.aead.NonceSize()
		if len(sealed) < 1+ns+b.aead.Overhead() {
			return nil, fmt.Errorf("%w: too short", ErrOpen)
		}
		out, err := b.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], ad)
		if err != nil {
			return nil, fmt.Errorf("%w: wrong key or associated data, or tampered", ErrOpen)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unknown format", ErrOpen)
}

// ParseKey reads a key given as base64 (standard or URL-safe alphabet, padded or not), as in
// AUTHGRAPH_SECRET_KEY. It must decode to KeyLen bytes. Errors never quote the input.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != KeyLen {
				return nil, fmt.Errorf("the key must be %d bytes (base64 of 32 random bytes, e.g. `openssl rand -base64 32`), not %d", KeyLen, len(key))
			}
			return key, nil
		}
	}
	return nil, errors.New("the key is not valid base64 (make one with `openssl rand -base64 32`)")
}
