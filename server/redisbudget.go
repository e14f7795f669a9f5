package main

import (
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/redisbudget"
)

// budgeted makes rdb charge every command against the Redis budget of its request's context
// (internal/redisbudget). The client must have ContextTimeoutEnabled, so that the budget's
// deadline reaches the socket.
func budgeted(rdb redis.UniversalClient) redis.UniversalClient {
	rdb.AddHook(redisbudget.Hook{})
	return rdb
}

// withRedisBudget gives each request AUTHGRAPH_REDIS_TIMEOUT of Redis time in all: however
// many commands it runs, and however go-redis retries and redials them, a request waits on
// Redis at most that long in total, then answers 503. Without it, a hung (not down) Redis
// would hold a login for the timeout times the retries times the commands.
func withRedisBudget(d time.Duration, next http.Handler) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(redisbudget.With(r.Context(), d)))
	})
}
