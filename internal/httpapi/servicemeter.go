package httpapi

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

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

// serviceMeter meters the requests of service keys. A key with a rate limit or a quota is
// metered on the request's path: its answer decides the request, so it waits for Redis. A
// key with neither only has its usage counted, which needs no answer: that is handed to a
// few background workers (a bounded queue; when it is full the count is dropped and
// counted in dropped), so that such a key's requests reach no Redis at all once the key is
// cached.
type serviceMeter struct {
	m       KeyMeter
	queue   chan usageNote
	dropped atomic.Uint64
}

type usageNote struct {
	id int64
	l  keymeter.Limits
}

// usageWorkers and usageQueue bound the background counting.
const (
	usageWorkers = 4
	usageQueue   = 4096
)

func newServiceMeter(m KeyMeter) *serviceMeter {
	if m == nil {
		return nil
	}
	sm := &serviceMeter{m: m, queue: make(chan usageNote, usageQueue)}
	for range usageWorkers {
		go sm.count()
	}
	return sm
}

// count records usage in the background. The workers live as long as the process: the
// handler has no Close, and a meter's writes are bounded by the queue.
func (sm *serviceMeter) count() {
	for n := range sm.queue {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = sm.m.Take(ctx, n.id, n.l)
		cancel()
	}
}

// take meters one request of k and answers whether it was refused (and answered).
func (sm *serviceMeter) take(ctx context.Context, w http.ResponseWriter, k *auth.ServiceKey) (refused bool) {
	if sm == nil || k == nil {
		return false
	}
	l := ServiceKeyLimits(k)
	if l.Rate == 0 && l.Quota == 0 {
		select {
		case sm.queue <- usageNote{k.ID, l}:
		default:
			sm.dropped.Add(1)
		}
		return false
	}
	d, err := sm.m.Take(ctx, k.ID, l)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("cannot meter service key")
		writeRefusal(w, auth.CodeUnavailable, auth.MsgUnavailable)
		return true
	}
	secs := int(math.Ceil(d.RetryAfter.Seconds()))
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
