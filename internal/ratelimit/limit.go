package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limit is a token bucket: Burst attempts at once, refilled at Rate attempts per Period.
// {Rate: 10, Burst: 10, Period: time.Minute} allows 10 attempts at once and then one every
// 6 seconds. It has the meaning of redis_rate's Limit, which the Redis limiter hands on as is.
type Limit struct {
	Rate   int
	Burst  int
	Period time.Duration
}

// Validate reports whether l can be enforced: every field must be positive.
func (l Limit) Validate() error {
	if l.Rate < 1 || l.Burst < 1 || l.Period <= 0 {
		return fmt.Errorf("ratelimit: invalid limit %s: rate, burst and period must be positive", l)
	}
	return nil
}

// String formats l as ParseLimit reads it: "RATE/PERIOD/BURST".
func (l Limit) String() string {
	return strconv.Itoa(l.Rate) + "/" + l.Period.String() + "/" + strconv.Itoa(l.Burst)
}

// interval is the time one attempt takes to refill.
func (l Limit) interval() time.Duration { return l.Period / time.Duration(l.Rate) }

// ParseLimit reads a limit from configuration: "RATE/PERIOD" (burst = rate) or
// "RATE/PERIOD/BURST", with PERIOD in time.ParseDuration's form: "20/1m", "60/1h/20".
func ParseLimit(s string) (Limit, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 2 && len(parts) != 3 {
		return Limit{}, fmt.Errorf("ratelimit: limit %q: want RATE/PERIOD or RATE/PERIOD/BURST", s)
	}
	var l Limit
	var err error
	if l.Rate, err = strconv.Atoi(parts[0]); err != nil {
		return Limit{}, fmt.Errorf("ratelimit: limit %q: rate: %w", s, err)
	}
	if l.Period, err = time.ParseDuration(parts[1]); err != nil {
		return Limit{}, fmt.Errorf("ratelimit: limit %q: period: %w", s, err)
	}
	l.Burst = l.Rate
	if len(parts) == 3 {
		if l.Burst, err = strconv.Atoi(parts[2]); err != nil {
			return Limit{}, fmt.Errorf("ratelimit: limit %q: burst: %w", s, err)
		}
	}
	return l, l.Validate()
}

// Result is the state of one bucket after an operation.
type Result struct {
	// Allowed: the attempt was counted (Allow), or one would be (Peek).
	Allowed bool
	// Remaining is how many more attempts the bucket allows right now.
	Remaining int
	// RetryAfter is, when Allowed is false, how long until one attempt will be allowed
	// (always > 0 then); 0 when Allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the bucket is full again, as if never used; 0 when full.
	ResetAfter time.Duration
}

// Limiter counts attempts per rule and key. A rule names a Limit given to the limiter's
// constructor; a key is what the rule counts by (an IP address, an account). Keys are
// stored only as SHA-256 digests, so they may be any length and hold any bytes.
//
// Errors: ErrUnknownRule for a rule the limiter was not given (a programming error), and
// an error wrapping auth.ErrUnavailable when the backend cannot answer. A refusal is not
// an error: it is a Result with Allowed false.
type Limiter interface {
	// Allow counts one attempt if the bucket has room, and reports the result.
	Allow(ctx context.Context, rule, key string) (Result, error)
	// Peek reports what Allow would, without counting anything.
	Peek(ctx context.Context, rule, key string) (Result, error)
	// Drain takes every attempt left in the bucket, so the next Allow is refused until it
	// refills.
	Drain(ctx context.Context, rule, key string) error
	// Reset empties the record of key's attempts: the bucket is full again.
	Reset(ctx context.Context, rule, key string) error
}

// ErrUnknownRule is returned for a rule that the limiter has no Limit for.
var ErrUnknownRule = errors.New("ratelimit: unknown rule")

// ErrLimited matches every *LimitedError with errors.Is.
var ErrLimited = errors.New("rate limited")

// LimitedError is a refusal by a rule: the transport answers it with RATE_LIMITED (HTTP 429)
// and a Retry-After header of RetryAfter().
type LimitedError struct {
	// Rule is the rule that refused, for logs and metrics. Never show it to a client: it
	// would tell an attacker which of the limits he has reached.
	Rule string
	// Delay is how long until the attempt could be allowed.
	Delay time.Duration
}

func (e *LimitedError) Error() string {
	return "ratelimit: " + e.Rule + ": rate limited, retry after " + e.Delay.String()
}

// Is makes errors.Is(err, ErrLimited) true.
func (e *LimitedError) Is(target error) bool { return target == ErrLimited }

// RetryAfter is Delay rounded up to a whole number of seconds, at least one: the value of
// the Retry-After header (which counts in seconds), never early.
func (e *LimitedError) RetryAfter() time.Duration {
	d := max(e.Delay, time.Second)
	return (d + time.Second - 1).Truncate(time.Second)
}

// positive returns d, or a millisecond if d is not positive: a refusal always names a wait,
// even when float rounding puts the bucket a hair short of one attempt.
func positive(d time.Duration) time.Duration { return max(d, time.Millisecond) }
