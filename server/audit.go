package main

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redisstore"
	"github.com/authgraph/authgraph/internal/webhook"
)

// ringSize bounds the embedded store's trail: at about 300 bytes an event, 30 MB.
const ringSize = 100_000

// newAuditTrail builds the audit trail the configuration asks for: Redis Streams beside the
// store when it is Redis, else a ring in memory; nil when AUTHGRAPH_AUDIT is off. Events go
// through a Writer, so recording one costs a request no round trip (see audit.Writer for
// the loss window).
func newAuditTrail(cfg Config, rdb redis.UniversalClient, logger zerolog.Logger) *audit.Writer {
	w, _, _ := newAuditTrailWithWebhooks(cfg, rdb, logger)
	return w
}

// newAuditTrailWithWebhooks is newAuditTrail with webhooks (Redis only): the trail's
// batches are also queued for the endpoints. It answers the service's WebhookStore and the
// delivery worker to run (nils without Redis or the trail).
func newAuditTrailWithWebhooks(cfg Config, rdb redis.UniversalClient, logger zerolog.Logger) (*audit.Writer, *webhooks, *webhook.Worker) {
	if !cfg.Audit {
		return nil, nil, nil
	}
	var st audit.Store
	if rdb != nil {
		st = redisstore.NewAuditLog(rdb, cfg.RedisPrefix, cfg.AuditRetention, clock.Real{})
	} else {
		st = audit.NewRing(ringSize, cfg.AuditRetention, time.Now)
	}
	hooks, st, worker := newWebhooks(cfg, rdb, st, logger)
	sampled := logger.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Minute})
	return audit.NewWriter(st, audit.WriterOptions{OnError: func(err error) {
		sampled.Error().Err(err).Msg("audit: events lost: the trail could not be written")
	}}), hooks, worker
}

// closeAuditTrail writes the events still buffered, for at most 5 seconds.
func closeAuditTrail(w *audit.Writer, logger zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		logger.Warn().Err(err).Msg("audit: stopped before every buffered event was written")
	}
	if s := w.Stats(); s.Dropped > 0 || s.Failed > 0 {
		logger.Warn().Int64("dropped", s.Dropped).Int64("failed", s.Failed).Int64("written", s.Written).Msg("audit: events lost")
	}
}
