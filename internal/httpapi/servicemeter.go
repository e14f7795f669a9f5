package httpapi

import (
	"context"
	"math"
	"net/http"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/errmap"
	"github.com/authgraph/authgraph/internal/keymeter"
)

// KeyMeter is what the request path needs of the per-key meter (internal/keymeter).
type KeyMeter interface {
	Take(ctx context.Context, id int64, l keymeter.Limits) (keymeter.Decision, error)
}

// ServiceKeyLimits are the meter's settings of a service key.
func ServiceKeyLimits(k *auth.ServiceKey) keymeter.Limits {
	return keymeter.Limits{Rate: k.Rate, Period: k.RatePeriod, Quota: k.Quota, QuotaPeriod: k.QuotaPeriod}
}

// serviceMeter meters the requests of service keys: every request of a key is one Take, whose
// answer decides it (and which records its usage). The meter the server gives it serves most
// Takes in process (keymeter.Leased on Redis, keymeter.Memory embedded), so that a cached
// key's request rarely waits for Redis.
type serviceMeter struct {
	m KeyMeter
}

func newServiceMeter(m KeyMeter) *serviceMeter {
	if m == nil {
		return nil
	}
	return &serviceMeter{m: m}
}

// decide meters one request of k (a Take, which records it in the key's usage) and answers
// the meter's decision; without a meter every request is allowed.
func (sm *serviceMeter) decide(ctx context.Context, k *auth.ServiceKey) (keymeter.Decision, error) {
	if sm == nil || k == nil {
		return keymeter.Decision{}, nil
	}
	return sm.m.Take(ctx, k.ID, ServiceKeyLimits(k))
}

// retryAfterSeconds rounds a refusal's wait up to whole seconds, as Retry-After has it.
func retryAfterSeconds(d keymeter.Decision) int {
	return int(math.Ceil(d.RetryAfter.Seconds()))
}

// take meters one request of k and answers whether it was refused (and answered).
func (sm *serviceMeter) take(ctx context.Context, w http.ResponseWriter, k *auth.ServiceKey) (refused bool) {
	d, err := sm.decide(ctx, k)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("cannot meter service key")
		writeRefusal(w, auth.CodeUnavailable, auth.MsgUnavailable)
		return true
	}
	secs := retryAfterSeconds(d)
	switch {
	case d.Limited:
		notes(ctx).outcome = "rate_limited"
		secs = max(secs, 1)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		// The body of every RATE_LIMITED, with extensions.retryAfter as GraphQL answers have it.
		writeErrorExt(w, errmap.Of(auth.CodeRateLimited).Status,
			map[string]any{"code": errmap.GraphQL(auth.CodeRateLimited), "retryAfter": secs}, auth.MsgRateLimited)
		return true
	case d.QuotaExceeded:
		notes(ctx).outcome = "quota_exceeded"
		if secs > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		writeRefusal(w, auth.CodeQuotaExceeded, auth.MsgQuotaExceeded)
		return true
	}
	return false
}
