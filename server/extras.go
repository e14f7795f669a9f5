package main

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/apq"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/metrics"
	"github.com/authgraph/authgraph/internal/tracing"
)

// extras are the optional parts of the HTTP service: Prometheus metrics, the persisted query
// store and tracing. A zero extras turns them off (tests of other parts may use one).
type extras struct {
	metrics *metrics.Metrics
	apq     *apq.Cache
	// apqLimits counts persisted query use per address; nil: no limits.
	apqLimits apqLimiter
	tracer    *tracing.Tracer
}

// close flushes what the extras hold (spans not yet exported).
func (x extras) close(logger zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := x.tracer.Shutdown(ctx); err != nil {
		logger.Warn().Err(err).Msg("tracing: flushing spans failed")
	}
}

// newExtras builds them from the configuration. rdb is nil with the embedded store; pool is
// the argon2id pool whose queue the metrics watch.
func newExtras(ctx context.Context, cfg Config, logger zerolog.Logger, rdb redis.UniversalClient, pool metrics.HashPool) (extras, error) {
	var x extras
	tracer, err := tracing.New(ctx, cfg.Tracing, version)
	if err != nil {
		return x, err
	}
	x.tracer = tracer
	if tracer.Enabled() {
		if err := tracer.Redis(rdb); err != nil {
			return x, err
		}
		logger.Info().Msg("tracing: exporting spans over OTLP")
	}
	if cfg.Metrics {
		x.metrics = metrics.New()
		x.metrics.WatchHashPool(pool)
		x.metrics.WatchRedis(rdb)
	}
	// Persisted queries stay in process whatever the store: see internal/apq for why.
	observe := func(result string) { x.metrics.APQ(result) }
	x.apq = apq.New(cfg.APQCacheBytes, cfg.APQTTL, clock.Real{}, observe)
	return x, nil
}
