// Package argon2id hashes and verifies passwords and user key secrets with Argon2id, stored
// as PHC strings ("$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>").
//
// A stored hash carries its own parameters, so raising the cost never breaks existing
// hashes: Verify reads them back, and reports needsRehash so the caller can upgrade the
// stored hash at the next successful login. VerifyDummy lets callers spend the same work
// for an unknown user or key id as for a wrong secret, so response time does not reveal
// which ids exist.
package argon2id

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// Hasher hashes and verifies secrets with one parameter set. It is safe for concurrent use.
type Hasher struct {
	p     Params
	dummy string // PHC hash of a random secret with p, verified by VerifyDummy
}

// New returns a Hasher for p, or an error if p fails Validate. It computes one hash up
// front (the dummy hash for VerifyDummy), so it costs as much as one Hash call.
func New(p Params) (*Hasher, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	h := &Hasher{p: p}
	dummy, err := h.Hash(context.Background(), rand.Text())
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.p }

// Hash returns the PHC string of secret under a fresh random salt.
//
// ctx is checked before the work starts; it is the hook for bounding concurrent hashing
// later (a queue that answers 503 when full).
func (h *Hasher) Hash(ctx context.Context, secret string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	salt := make([]byte, h.p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("argon2id: reading salt: %w", err)
	}
	key := argon2.IDKey([]byte(secret), salt, h.p.Time, h.p.Memory, h.p.Threads, h.p.KeyLen)
	return encode(h.p, salt, key), nil
}

// Verify reports whether secret matches the PHC string encoded. The parameters are read
// from encoded, so hashes made before a parameter change keep verifying; needsRehash is
// true when the secret matched but the stored parameters (m, t, p, salt or key length)
// differ from h's, and the caller should store a fresh Hash of secret.
//
// A malformed encoded is an error wrapping ErrMalformed (a data problem, not a wrong
// secret); the error never contains the secret or the stored hash.
func (h *Hasher) Verify(ctx context.Context, secret, encoded string) (ok, needsRehash bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, false, err
	}
	p, salt, want, err := Decode(encoded)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p != h.p, nil
}

// VerifyDummy does the work of a Verify against a hash made with h's parameters and
// discards the result. Call it when the user or key id is unknown, so that the answer
// takes as long as for a known id with a wrong secret.
func (h *Hasher) VerifyDummy(ctx context.Context, secret string) {
	_, _, _ = h.Verify(ctx, secret, h.dummy)
}
