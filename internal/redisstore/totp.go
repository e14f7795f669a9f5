package redisstore

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// A user's second factor is one small hash, {u<uid>}:totp (see doc.go): "s" the sealed
// secret, "t" the last accepted step, and one empty-valued field per recovery code, named
// "r" + the code's 32-byte SHA-256 digest. An enrolment under way is a string beside it,
// {u<uid>}:totp:new: 20 digits of its expiry in Unix nanoseconds, then the sealed secret,
// expiring at that time. Both share the {u<uid>} hash tag, so enableTOTP can move the secret
// from one to the other atomically, on Redis Cluster too.

const (
	fieldSecret   = "s"
	fieldLastStep = "t"
	recoveryMark  = "r"
)

func recoveryField(d token.Digest) string { return recoveryMark + string(d[:]) }

// nanos20 writes a time as 20 zero-padded digits of Unix nanoseconds, so that Lua can compare
// two of them as strings, exactly (its numbers are doubles, too coarse for nanoseconds).
func nanos20(ns int64) string { return fmt.Sprintf("%020d", ns) }

func unixNano(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// SetPendingTOTP implements auth.TOTPStore.
func (s *Store) SetPendingTOTP(ctx context.Context, userID int64, p *auth.PendingTOTP) error {
	const op = "set pending totp"
	v := append([]byte(nanos20(p.ExpiresAt.UnixNano())), p.Secret...)
	err := s.rdb.SetArgs(ctx, s.name.totpNew(userID), v, redis.SetArgs{ExpireAt: ceilMilli(p.ExpiresAt)}).Err()
	if err != nil {
		return fail(op, err)
	}
	return nil
}

// PendingTOTP implements auth.TOTPStore.
func (s *Store) PendingTOTP(ctx context.Context, userID int64) (*auth.PendingTOTP, error) {
	const op = "pending totp"
	b, err := s.rdb.Get(ctx, s.name.totpNew(userID)).Bytes()
	if err != nil {
		return nil, fail(op, err)
	}
	if len(b) < 20 {
		return nil, fail(op, fmt.Errorf("%w: pending totp", errCorrupt))
	}
	ns, err := strconv.ParseInt(string(b[:20]), 10, 64)
	if err != nil {
		return nil, fail(op, fmt.Errorf("%w: pending totp", errCorrupt))
	}
	p := &auth.PendingTOTP{Secret: bytes.Clone(b[20:]), ExpiresAt: unixNano(ns)}
	if !s.clock.Now().Before(p.ExpiresAt) {
		return nil, notFound(op)
	}
	return p, nil
}

// EnableTOTP implements auth.TOTPStore with one script over the enrolment and the hash.
func (s *Store) EnableTOTP(ctx context.Context, userID int64, secret []byte, step int64, recovery []token.Digest) error {
	const op = "enable totp"
	args := make([]any, 0, 3+len(recovery))
	args = append(args, nanos20(s.clock.Now().UnixNano()), secret, step)
	for _, d := range recovery {
		args = append(args, recoveryField(d))
	}
	keys := []string{s.name.totpNew(userID), s.name.totp(userID)}
	n, err := enableTOTP.Run(ctx, s.rdb, keys, args...).Int()
	switch {
	case err != nil:
		return fail(op, err)
	case n < 0:
		return conflict(op)
	case n == 0:
		return notFound(op)
	}
	return nil
}

// TOTP implements auth.TOTPStore.
func (s *Store) TOTP(ctx context.Context, userID int64) (*auth.TOTP, error) {
	const op = "totp"
	h, err := s.rdb.HGetAll(ctx, s.name.totp(userID)).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	secret, on := h[fieldSecret]
	if !on {
		return nil, notFound(op)
	}
	last, err := strconv.ParseInt(h[fieldLastStep], 10, 64)
	if err != nil {
		return nil, fail(op, fmt.Errorf("%w: totp step", errCorrupt))
	}
	t := &auth.TOTP{Secret: []byte(secret), LastStep: last}
	for f := range h {
		if len(f) == len(recoveryMark)+len(token.Digest{}) && f[:len(recoveryMark)] == recoveryMark {
			t.RecoveryCodes++
		}
	}
	return t, nil
}

// UseTOTPStep implements auth.TOTPStore with one script on the hash.
func (s *Store) UseTOTPStep(ctx context.Context, userID int64, step int64) error {
	const op = "use totp step"
	n, err := useTOTPStep.Run(ctx, s.rdb, []string{s.name.totp(userID)}, step).Int()
	switch {
	case err != nil:
		return fail(op, err)
	case n < 0:
		return notFound(op)
	case n == 0:
		return conflict(op)
	}
	return nil
}

// UseRecoveryCode implements auth.TOTPStore with one HDEL: of concurrent calls with one
// code, exactly one removes the field and hears 1.
func (s *Store) UseRecoveryCode(ctx context.Context, userID int64, d token.Digest) error {
	const op = "use recovery code"
	n, err := s.rdb.HDel(ctx, s.name.totp(userID), recoveryField(d)).Result()
	if err != nil {
		return fail(op, err)
	}
	if n == 0 {
		return notFound(op)
	}
	return nil
}

// DisableTOTP implements auth.TOTPStore: both keys go in one MULTI (one slot).
func (s *Store) DisableTOTP(ctx context.Context, userID int64) error {
	const op = "disable totp"
	var del *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		del = p.Del(ctx, s.name.totp(userID))
		p.Del(ctx, s.name.totpNew(userID))
		return nil
	})
	if err != nil {
		return fail(op, err)
	}
	if del.Val() == 0 {
		return notFound(op)
	}
	return nil
}
