package keymeter

import (
	"context"
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
	Take(ctx context.Context, id int64, l Limits) (Decision, error)
	Usage(ctx context.Context, id int64, l Limits, since time.Time) (Usage, error)
	// ResetQuota sets the key's remaining quota back to l.Quota (an admin raising/renewing it).
	ResetQuota(ctx context.Context, id int64, l Limits) error
	// Forget deletes everything stored for key id (the key was deleted).
	Forget(ctx context.Context, id int64) error
}
