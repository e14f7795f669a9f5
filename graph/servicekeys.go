package graph

import (
	"context"
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

// meterOf reads a key's meter once per answer, for lastUsedAt and quotaRemaining.
func (r *serviceKeyResolver) meterOf(ctx context.Context, obj *model.ServiceKey) (*auth.ServiceKeyUsage, error) {
	m := &obj.Meter
	m.Once.Do(func() {
		m.Usage, m.Err = r.Service.ServiceKeyUsage(ctx, &obj.ServiceKey, r.Service.Now().Add(-time.Hour))
	})
	return m.Usage, m.Err
}
