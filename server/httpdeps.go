package main

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/apq"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/httpapi"
	"github.com/authgraph/authgraph/internal/metrics"
	"github.com/authgraph/authgraph/internal/tracing"
)

// newHTTPDeps builds what the HTTP layer needs from the configuration: the service, and the
// optional parts (Prometheus metrics, the persisted query store, tracing). rdb is nil with
// the embedded store; pool is the argon2id pool whose queue the metrics watch; limiter is
// the service's, whose buckets persisted queries share. The function it answers flushes
// what the parts hold (spans not yet exported) at shutdown.
func newHTTPDeps(ctx context.Context, cfg Config, logger zerolog.Logger, svc *auth.Service, rdb redis.UniversalClient, pool metrics.HashPool, limiter auth.Limiter) (httpapi.Deps, func(), error) {
	d := httpapi.Deps{Config: cfg.httpConfig(), Service: svc, Logger: logger, APQLimits: apqLimits(limiter), IntrospectLimits: introspectLimits(limiter)}
	tracer, err := tracing.New(ctx, cfg.Tracing, version)
	if err != nil {
		return d, nil, err
	}
	d.Tracer = tracer
	if tracer.Enabled() {
		if err := tracer.Redis(rdb); err != nil {
			return d, nil, err
		}
		logger.Info().Msg("tracing: exporting spans over OTLP")
	}
	if cfg.Metrics {
		d.Metrics = metrics.New()
		d.Metrics.WatchHashPool(pool)
		d.Metrics.WatchRedis(rdb)
	}
	// Persisted queries stay in process whatever the store: see internal/apq for why.
	m := d.Metrics
	d.APQ = apq.New(cfg.APQCacheBytes, cfg.APQTTL, clock.Real{}, func(result string) { m.APQ(result) })
	flush := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tracer.Shutdown(ctx); err != nil {
			logger.Warn().Err(err).Msg("tracing: flushing spans failed")
		}
	}
	return d, flush, nil
}
