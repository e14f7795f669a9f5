package main

import (
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/apq"
	"github.com/authgraph/authgraph/internal/metrics"
)

// extras are the optional parts of the HTTP service: Prometheus metrics and the persisted
// query store. A zero extras turns them off (tests of other parts may use one).
type extras struct {
	metrics *metrics.Metrics
	apq     *apq.Store
}

// newExtras builds them from the configuration. rdb is nil with the embedded store; pool is
// the argon2id pool whose queue the metrics watch.
func newExtras(cfg Config, logger zerolog.Logger, rdb redis.UniversalClient, pool metrics.HashPool) extras {
	var x extras
	if cfg.Metrics {
		x.metrics = metrics.New()
		x.metrics.WatchHashPool(pool)
		x.metrics.WatchRedis(rdb)
	}
	observe := func(result string) { x.metrics.APQ(result) }
	if rdb != nil {
		backend := apq.NewRedis(rdb, cfg.RedisPrefix, cfg.APQTTL, func(err error) {
			logger.Warn().Err(err).Msg("persisted query store: Redis failed; the client will resend the query")
		})
		x.apq = apq.New(backend, observe)
	} else {
		x.apq = apq.NewMemory(apq.DefaultLRUSize, observe)
	}
	return x
}
