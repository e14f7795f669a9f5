// Package webhook delivers the audit trail's events to the HTTP endpoints admins register,
// in the Standard Webhooks format (webhook-id, webhook-timestamp, webhook-signature: "v1,"
// and a base64 HMAC-SHA256 over "id.timestamp.body" under the endpoint's whsec_ secret).
//
// Delivery is at least once, over a Redis Stream consumer group that every replica reads
// (queue.go): an attempt that fails is retried with exponential backoff and jitter for
// 24 hours, then the endpoint is disabled with the reason; every attempt is logged per
// endpoint (status, latency, attempt, a prefix of the answer). Requests go only to public
// addresses unless the deployment allows private ones (guard.go): the name is resolved
// once, each address checked, and the connection made to the checked address.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret; the rest is base64 of the HMAC key.
const SecretPrefix = "whsec_"

// NewSecret makes a signing secret: 32 random bytes.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than answer short)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ErrBadSecret is answered for a secret that is not whsec_ and base64 of a key.
var ErrBadSecret = errors.New("webhook: malformed signing secret")

func key(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(k) < 16 {
		return nil, ErrBadSecret
	}
	return k, nil
}

// Sign answers the webhook-signature header of a delivery: "v1," and the base64
// HMAC-SHA256 of "id.timestamp.body" keyed by the secret.
func Sign(secret, id string, at time.Time, body []byte) (string, error) {
	k, err := key(secret)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, k)
	m.Write([]byte(id + "." + strconv.FormatInt(at.Unix(), 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// Tolerance is how far a delivery's timestamp may be from the receiver's clock.
const Tolerance = 5 * time.Minute

// Verify is the receiver's check, for tests and for products written in Go: one of the
// space-separated signatures in header must be the delivery's, and its timestamp within
// Tolerance of now.
func Verify(secret, id, timestamp, header string, body []byte, now time.Time) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	at := time.Unix(ts, 0)
	if at.Before(now.Add(-Tolerance)) || at.After(now.Add(Tolerance)) {
		return false
	}
	want, err := Sign(secret, id, at, body)
	if err != nil {
		return false
	}
	for _, sig := range strings.Fields(header) {
		if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) == 1 {
			return true
		}
	}
	return false
}
