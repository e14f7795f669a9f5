package keymeter

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/clock"
)

// Redis is a Meter in Redis, shared by every replica.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
	clock  clock.Clock
}

var _ Meter = (*Redis)(nil)

// NewRedis returns a meter on rdb with key names under prefix ("" means "ag:"), reading
// time from c (nil: the wall clock). The caller keeps ownership of rdb.
func NewRedis(rdb redis.UniversalClient, prefix string, c clock.Clock) *Redis {
	if prefix == "" {
		prefix = "ag:"
	}
	if c == nil {
		c = clock.Real{}
	}
	return &Redis{rdb: rdb, prefix: prefix, clock: c}
}

var errTODO = errors.New("keymeter: not implemented yet")

// Take implements Meter.
func (r *Redis) Take(ctx context.Context, id int64, l Limits) (Decision, error) {
	return Decision{}, errTODO
}

// Usage implements Meter.
func (r *Redis) Usage(ctx context.Context, id int64, l Limits, since time.Time) (Usage, error) {
	return Usage{}, errTODO
}

// ResetQuota implements Meter.
func (r *Redis) ResetQuota(ctx context.Context, id int64, l Limits) error { return errTODO }

// Forget implements Meter.
func (r *Redis) Forget(ctx context.Context, id int64) error { return errTODO }
