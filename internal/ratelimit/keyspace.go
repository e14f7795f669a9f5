package ratelimit

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"
)

// rateKeyPrefix is what redis_rate puts before every key name it is given.
const rateKeyPrefix = "rate:"

// keyspace is the client redis_rate talks to. redis_rate names each key "rate:" + the name
// it was given, which would put our keys outside the deployment's prefix: where shared-server
// cleanup, `SCAN prefix*` and a Redis ACL such as `~ag:*` cannot see them. keyspace takes
// that "rate:" off again on the way out, so each key is exactly the name we built.
// redis_rate accepts any client with these methods (its rediser interface), and the
// tests check the key names, so a change in redis_rate's naming cannot pass unnoticed.
type keyspace struct{ redis.UniversalClient }

func (k keyspace) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return k.UniversalClient.Eval(ctx, script, unrate(keys), args...)
}

func (k keyspace) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return k.UniversalClient.EvalSha(ctx, sha1, unrate(keys), args...)
}

func (k keyspace) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return k.UniversalClient.EvalRO(ctx, script, unrate(keys), args...)
}

func (k keyspace) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return k.UniversalClient.EvalShaRO(ctx, sha1, unrate(keys), args...)
}

func (k keyspace) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return k.UniversalClient.Del(ctx, unrate(keys)...)
}

// unrate returns keys without redis_rate's prefix, in a new slice.
func unrate(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = strings.TrimPrefix(k, rateKeyPrefix)
	}
	return out
}
