package main

import (
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/sessioncache"
)

// newSessionCache puts the in-process session cache in front of store, with its
// invalidations on the pub/sub channel <prefix>inval of rdb: every replica with the same
// prefix hears every other's.
func newSessionCache(store auth.Store, rdb redis.UniversalClient, cfg Config, logger zerolog.Logger) *sessioncache.Store {
	channel := cfg.RedisPrefix + "inval"
	log := logger.With().Str("component", "session cache").Logger()
	s := sessioncache.New(store, sessioncache.NewRedisBus(rdb, channel, 0), sessioncache.Options{
		TTL:   cfg.SessionCacheTTL,
		Size:  int(cfg.SessionCacheSize),
		Clock: clock.Real{},
		OnEvent: func(e sessioncache.Event, err error) {
			switch e {
			case sessioncache.EventUp:
				log.Info().Msg("invalidation channel subscribed: cache in use")
			case sessioncache.EventDown:
				log.Warn().Err(err).Msg("invalidation channel lost: cache flushed and bypassed until it is back")
			case sessioncache.EventPublishFailed:
				log.Warn().Err(err).Msg("could not publish an invalidation: other replicas may accept an ended session until their cache TTL")
			}
		},
	})
	log.Info().Dur("ttl", cfg.SessionCacheTTL).Int64("size", cfg.SessionCacheSize).Str("channel", channel).Msg("session cache: on")
	return s
}
