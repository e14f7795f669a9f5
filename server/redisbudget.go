package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/redisbudget"
)

// budgeted makes rdb charge every command against the Redis budget of its request's context
// (internal/redisbudget). The client must have ContextTimeoutEnabled, so that the budget's
// deadline reaches the socket.
func budgeted(rdb redis.UniversalClient) redis.UniversalClient {
	rdb.AddHook(redisbudget.Hook{})
	return rdb
}

// redisLogger routes go-redis's own messages (a failed dial, a pool that gives up) into the
// JSON log, at most 5 a second: during an outage go-redis reports every failed dial, and
// those would otherwise be plain-text lines on stderr by the thousand.
type redisLogger struct{ l zerolog.Logger }

func newRedisLogger(l zerolog.Logger) redisLogger {
	return redisLogger{l.With().Str("source", "go-redis").Logger().Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Second})}
}

func (r redisLogger) Printf(_ context.Context, format string, v ...any) {
	r.l.Warn().Msg(fmt.Sprintf(format, v...))
}
