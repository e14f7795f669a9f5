package keymeter

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limits are one key's settings; the zero value meters nothing but usage.
type Limits struct {
	Rate        int           // requests allowed per Period; 0: no rate limit
	Period      time.Duration // with Rate
	Burst       int           // 0: Rate
	Quota       int64         // total requests allowed; 0: no quota
	QuotaPeriod time.Duration // 0: the quota never refills; else it starts again at Quota every QuotaPeriod (fixed windows aligned to the Unix epoch)
}

// ErrInvalidLimits is wrapped by the error of Validate, and of a Meter given such Limits.
var ErrInvalidLimits = errors.New("keymeter: invalid limits")

// maxSpan bounds the times the limits compute with (a burst's length, a quota period): about
// 35 years in microseconds, so that every sum the Redis script makes stays an exact integer
// in its floating-point numbers (below 2^53 with the current time added).
const maxSpan = 1 << 50

// Validate reports whether the meters can enforce l: no negative numbers, a Period with a
// Rate, and spans (Period, Burst intervals, QuotaPeriod) under 35 years.
func (l Limits) Validate() error {
	switch {
	case l.Rate < 0 || l.Burst < 0 || l.Quota < 0 || l.Period < 0 || l.QuotaPeriod < 0:
		return fmt.Errorf("%w: negative setting in %+v", ErrInvalidLimits, l)
	case l.Rate > 0 && l.Period < time.Microsecond:
		return fmt.Errorf("%w: a rate needs a period of at least 1µs", ErrInvalidLimits)
	case l.Rate == 0 && l.Burst > 0:
		return fmt.Errorf("%w: a burst needs a rate", ErrInvalidLimits)
	case l.QuotaPeriod > 0 && l.Quota == 0:
		return fmt.Errorf("%w: a quota period needs a quota", ErrInvalidLimits)
	case l.QuotaPeriod > 0 && l.QuotaPeriod < time.Microsecond, l.QuotaPeriod.Microseconds() >= maxSpan:
		return fmt.Errorf("%w: quota period out of range", ErrInvalidLimits)
	}
	if l.Rate > 0 {
		iv, burst := l.interval(), l.burst()
		if l.Period.Microseconds() >= maxSpan || iv > maxSpan/int64(burst+1) {
			return fmt.Errorf("%w: the burst spans more than 35 years", ErrInvalidLimits)
		}
	}
	return nil
}

// interval is the rate limit's emission interval (Period / Rate) in whole microseconds,
// rounded up, so that the limit never lets more than Rate requests through per Period; a
// rate is thus exact to within 1µs per request. Whole numbers make the Redis script's
// arithmetic (Lua numbers are doubles) and Memory's (int64) agree to the microsecond.
func (l Limits) interval() int64 {
	p := l.Period.Microseconds()
	return (p + int64(l.Rate) - 1) / int64(l.Rate)
}

func (l Limits) burst() int {
	if l.Burst > 0 {
		return l.Burst
	}
	return l.Rate
}

// Decision is Take's answer for one request.
type Decision struct {
	Limited       bool // refused by the rate limit: answer 429 with RetryAfter
	QuotaExceeded bool // refused: the quota is spent (403 QUOTA_EXCEEDED); RetryAfter is when it refills (0: never)
	RetryAfter    time.Duration
	Remaining     int64 // quota left after this request; -1 without a quota
}

// Allowed reports whether the request may proceed.
func (d Decision) Allowed() bool { return !d.Limited && !d.QuotaExceeded }

// Hour is one hour of a key's usage.
type Hour struct {
	Start   time.Time // UTC, on the hour
	Allowed int64
	Refused int64 // limited or over quota
}

// Usage is what is recorded of a key's use.
type Usage struct {
	Hours          []Hour    // oldest first, only hours with traffic, at most the last 30 days
	LastUsed       time.Time // zero: never
	QuotaRemaining int64     // -1 without a quota (pass Limits to compute)
}

// Meter is what the request path and the GraphQL layer use.
type Meter interface {
	// Take counts one request of key id against l, records it in the current hour's usage
	// and lastUsed, and answers whether it may proceed. A refused request is counted as refused.
	// A key given to Forget is gone for good (ids are never reused): Take writes nothing for
	// it and answers Decision{Remaining: -1}, allowed as a key without limits, since a
	// request of a deleted key that still reaches Take was authenticated from a cache that
	// drops the key within its bound, and metering is not what refuses it.
	Take(ctx context.Context, id int64, l Limits) (Decision, error)
	Usage(ctx context.Context, id int64, l Limits, since time.Time) (Usage, error)
	// ResetQuota sets the key's remaining quota back to l.Quota (an admin raising/renewing it);
	// it does nothing for a forgotten key.
	ResetQuota(ctx context.Context, id int64, l Limits) error
	// Forget deletes everything stored for key id (the key was deleted) and marks id gone:
	// no later Take, lease, flush or ResetQuota, on any replica, stores anything for it again,
	// and Usage answers nothing used.
	Forget(ctx context.Context, id int64) error
}

// RetentionHours is how many hours of usage a key keeps: the current hour and the 719
// before it, 30 days.
const RetentionHours = 30 * 24

const (
	usPerHour = int64(time.Hour / time.Microsecond)
	usPerMs   = int64(time.Millisecond / time.Microsecond)
)

// hourOf returns the number of the hour since the Unix epoch that holds us (microseconds
// since the epoch), rounding down also before 1970.
func hourOf(us int64) int64 { return floorDiv(us, usPerHour) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// quotaWindow returns the number of the quota window that holds us (0 when the quota never
// refills) and the microseconds until the next one starts (0: never).
func (l Limits) quotaWindow(us int64) (win, refillIn int64) {
	if l.QuotaPeriod <= 0 {
		return 0, 0
	}
	qp := l.QuotaPeriod.Microseconds()
	win = floorDiv(us, qp)
	return win, (win+1)*qp - us
}

// keepHour reports whether hour h is within the retention that ends with hour cur and
// starts with since's hour.
func keepHour(h, cur int64, since time.Time) bool {
	return h > cur-RetentionHours && h <= cur && h >= hourOf(since.UnixMicro())
}

func hourStart(h int64) time.Time { return time.UnixMicro(h * usPerHour).UTC() }

func lastUsed(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
