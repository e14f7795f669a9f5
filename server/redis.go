package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/redisbudget"
)

// newRedisClient builds a client from AUTHGRAPH_REDIS_URL. The scheme picks the topology:
//
//	redis://[user:pass@]host:port[/db]           one node (rediss:// for TLS)
//	redis+cluster://host:port?addr=host2:port…    Redis Cluster, seed nodes (rediss+cluster://)
//	redis+sentinel://host:port?addr=…&master_name=mymaster
//	                                              Sentinel: sentinel addresses and the master's name
//
// Query parameters are go-redis's own (dial_timeout, read_timeout, pool_size, …). Every
// command is bounded by timeout unless the URL sets its own read/write timeouts, and all the
// commands of one request together by the request's Redis budget (internal/redisbudget, which the HTTP layer gives every request).
func newRedisClient(rawURL string, timeout time.Duration) (redis.UniversalClient, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("redis URL must start with redis:// or rediss://")
	}
	base, topology, _ := strings.Cut(scheme, "+")
	if base != "redis" && base != "rediss" {
		return nil, fmt.Errorf("redis URL scheme %q: want redis, rediss, redis+cluster or redis+sentinel", scheme)
	}
	u := base + "://" + rest
	switch topology {
	case "":
		o, err := redis.ParseURL(u)
		if err != nil {
			return nil, fmt.Errorf("redis URL: %w", redactErr(err))
		}
		setTimeouts(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, timeout, !strings.Contains(rest, "read_timeout"))
		o.ContextTimeoutEnabled = true
		return budgeted(redis.NewClient(o)), nil
	case "cluster":
		o, err := redis.ParseClusterURL(u)
		if err != nil {
			return nil, fmt.Errorf("redis cluster URL: %w", redactErr(err))
		}
		setTimeouts(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, timeout, !strings.Contains(rest, "read_timeout"))
		o.ContextTimeoutEnabled = true
		return budgeted(redis.NewClusterClient(o)), nil
	case "sentinel":
		o, err := redis.ParseFailoverURL(u)
		if err != nil {
			return nil, fmt.Errorf("redis sentinel URL: %w", redactErr(err))
		}
		if o.MasterName == "" {
			return nil, fmt.Errorf("redis sentinel URL needs master_name")
		}
		setTimeouts(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, timeout, !strings.Contains(rest, "read_timeout"))
		o.ContextTimeoutEnabled = true
		return budgeted(redis.NewFailoverClient(o)), nil
	}
	return nil, fmt.Errorf("redis URL scheme %q: want redis, rediss, redis+cluster or redis+sentinel", scheme)
}

func setTimeouts(dial, read, write *time.Duration, d time.Duration, override bool) {
	if d <= 0 || !override {
		return
	}
	*dial, *read, *write = d, d, d
}

// redactErr keeps a URL parse error from echoing the password it may contain.
func redactErr(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "@"); i >= 0 {
		return fmt.Errorf("malformed URL (details withheld: it may contain a password)")
	}
	return err
}

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
