package graph

import (
	"context"
	"sync"
	"time"

	"github.com/authgraph/authgraph/graph/model"
	"github.com/authgraph/authgraph/internal/auth"
)

// GraphQL type names of service accounts and keys, as encoded in ObjectIDs.
const (
	typeServiceAccount = "ServiceAccount"
	typeServiceKey     = "ServiceKey"
)

// maxPeriodSeconds bounds a rate limit's or quota's period as the domain does.
const maxPeriodSeconds = int(auth.MaxServiceKeyPeriod / time.Second)

func (r *mutationResolver) createServiceKey(ctx context.Context, input model.CreateServiceKeyInput) (*model.ServiceKey, error) {
	said, err := input.ServiceAccountID.As(typeServiceAccount)
	if err != nil {
		return nil, err
	}
	var l auth.ServiceKeyLimits
	if rl := input.RateLimit; rl != nil {
		if rl.Requests < 1 || rl.PeriodSeconds < 1 || rl.PeriodSeconds > maxPeriodSeconds {
			return nil, auth.Errorf(auth.CodeInvalidInput, "rateLimit needs at least 1 request per 1 to %d seconds", maxPeriodSeconds)
		}
		l.Rate, l.RatePeriod = rl.Requests, time.Duration(rl.PeriodSeconds)*time.Second
	}
	if q := input.Quota; q != nil {
		if q.Limit < 1 {
			return nil, auth.Errorf(auth.CodeInvalidInput, "quota.limit must be at least 1")
		}
		l.Quota = int64(q.Limit)
		if q.PeriodSeconds != nil {
			if *q.PeriodSeconds < 1 || *q.PeriodSeconds > maxPeriodSeconds {
				return nil, auth.Errorf(auth.CodeInvalidInput, "quota.periodSeconds must be from 1 to %d", maxPeriodSeconds)
			}
			l.QuotaPeriod = time.Duration(*q.PeriodSeconds) * time.Second
		}
	}
	nk, err := r.Service.CreateServiceKey(ctx, said, input.Name, toScopes(input.Scopes), input.ExpiresAt, l)
	if err != nil {
		return nil, err
	}
	return &model.ServiceKey{ServiceKey: *nk.Key, Secret: &nk.Secret}, nil
}

// meterOf reads a key's meter once per answer: lastUsedAt, quotaRemaining and usage (every
// alias of it, whatever its since) come from one read of the whole usage window, which the
// meter reads whole anyway. In a query the read is shared by every appearance of the key
// (aliases of serviceAccounts too): the complexity and alias limits count an alias once,
// not once per key, so a read per alias and key let one request of a read-only key cost
// Redis a read per alias of every key in its account.
func (r *serviceKeyResolver) meterOf(ctx context.Context, obj *model.ServiceKey) (*auth.ServiceKeyUsage, error) {
	m := &obj.Meter
	if l, _ := ctx.Value(loadersKey{}).(*loaders); l != nil {
		m = l.meters.of(obj.ID)
	}
	m.Once.Do(func() {
		// The zero time asks for all the domain keeps (UsageWindow).
		m.Usage, m.Err = r.Service.ServiceKeyUsage(ctx, &obj.ServiceKey, time.Time{})
	})
	return m.Usage, m.Err
}

// usageSince answers the hours of u from since's hour on, as the meter would for since.
func usageSince(u *auth.ServiceKeyUsage, since time.Time) []*model.ServiceKeyUsageHour {
	from := since.Truncate(time.Hour)
	out := make([]*model.ServiceKeyUsageHour, 0, len(u.Hours))
	for _, h := range u.Hours {
		if !h.Start.Before(from) {
			out = append(out, &model.ServiceKeyUsageHour{Start: h.Start, Allowed: int(h.Allowed), Refused: int(h.Refused)})
		}
	}
	return out
}

// meterMemos are one query's reads of key meters, by key id.
type meterMemos struct {
	mu sync.Mutex
	m  map[int64]*model.MeterMemo
}

func (mm *meterMemos) of(id int64) *model.MeterMemo {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.m == nil {
		mm.m = map[int64]*model.MeterMemo{}
	}
	m := mm.m[id]
	if m == nil {
		m = &model.MeterMemo{}
		mm.m[id] = m
	}
	return m
}
