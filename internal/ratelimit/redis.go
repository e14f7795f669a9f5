package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
)

// RedisLimiter is a Limiter whose buckets live in Redis, so every replica counts against the
// same limits. It runs redis_rate's GCRA script, which reads and updates a bucket in one
// atomic step on the server (with the server's clock), so concurrent attempts from any
// number of replicas never overshoot. Each bucket is one key with a TTL of its reset time,
// so idle keys leave by themselves. It is safe for concurrent use.
type RedisLimiter struct {
	rl     *redis_rate.Limiter
	prefix string
	rules  map[string]Limit
}

var _ Limiter = (*RedisLimiter)(nil)

// NewRedis returns a limiter on rdb enforcing rules laid over DefaultRules (nil: the
// defaults). Key names are prefix + "rl:" + rule + ":" + base64url(SHA-256(key)); an empty
// prefix means "ag:", the store's default. The caller keeps ownership of rdb.
func NewRedis(rdb redis.UniversalClient, prefix string, rules map[string]Limit) (*RedisLimiter, error) {
	all, err := withDefaults(rules)
	if err != nil {
		return nil, err
	}
	if prefix == "" {
		prefix = "ag:"
	}
	return &RedisLimiter{rl: redis_rate.NewLimiter(keyspace{rdb}), prefix: prefix, rules: all}, nil
}

// Allow implements Limiter.
func (r *RedisLimiter) Allow(ctx context.Context, rule, key string) (Result, error) {
	l, name, err := r.bucket(rule, key)
	if err != nil {
		return Result{}, err
	}
	res, err := r.rl.Allow(ctx, name, toRate(l))
	if err != nil {
		return Result{}, unavailable("allow", rule, err)
	}
	out := Result{Allowed: res.Allowed > 0, Remaining: res.Remaining, ResetAfter: max(res.ResetAfter, 0)}
	if !out.Allowed {
		out.RetryAfter = positive(res.RetryAfter)
	}
	return out, nil
}

// Peek implements Limiter with redis_rate's AllowN for n = 0, which counts nothing. That
// call always says "allowed" (zero attempts fit), so the answer for one attempt is derived
// from the bucket's state: one fits when ResetAfter leaves room for one interval in the
// burst, which is also what Remaining (rounded down) >= 1 says.
func (r *RedisLimiter) Peek(ctx context.Context, rule, key string) (Result, error) {
	l, name, err := r.bucket(rule, key)
	if err != nil {
		return Result{}, err
	}
	res, err := r.rl.AllowN(ctx, name, toRate(l), 0)
	if err != nil {
		return Result{}, unavailable("peek", rule, err)
	}
	out := Result{Allowed: res.Remaining >= 1, Remaining: res.Remaining, ResetAfter: max(res.ResetAfter, 0)}
	if !out.Allowed {
		out.RetryAfter = positive(out.ResetAfter - l.interval()*time.Duration(l.Burst-1))
	}
	return out, nil
}

// Drain implements Limiter with redis_rate's AllowAtMost, which takes as many attempts as
// are left, up to the burst.
func (r *RedisLimiter) Drain(ctx context.Context, rule, key string) error {
	l, name, err := r.bucket(rule, key)
	if err != nil {
		return err
	}
	if _, err := r.rl.AllowAtMost(ctx, name, toRate(l), l.Burst); err != nil {
		return unavailable("drain", rule, err)
	}
	return nil
}

// Reset implements Limiter by deleting the bucket's key.
func (r *RedisLimiter) Reset(ctx context.Context, rule, key string) error {
	_, name, err := r.bucket(rule, key)
	if err != nil {
		return err
	}
	if err := r.rl.Reset(ctx, name); err != nil {
		return unavailable("reset", rule, err)
	}
	return nil
}

// bucket returns rule's limit and the key name of key's bucket under it.
func (r *RedisLimiter) bucket(rule, key string) (Limit, string, error) {
	l, ok := r.rules[rule]
	if !ok {
		return Limit{}, "", fmt.Errorf("%w %q", ErrUnknownRule, rule)
	}
	sum := sha256.Sum256([]byte(key))
	return l, r.prefix + "rl:" + rule + ":" + base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

func toRate(l Limit) redis_rate.Limit {
	return redis_rate.Limit{Rate: l.Rate, Burst: l.Burst, Period: l.Period}
}

// unavailable wraps a Redis failure. Limits fail closed: see "Redis down" in doc.go.
func unavailable(op, rule string, err error) error {
	return fmt.Errorf("ratelimit: %s %s: %w: %w", op, rule, auth.ErrUnavailable, err)
}
