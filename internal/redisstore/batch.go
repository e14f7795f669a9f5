package redisstore

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
)

// The batch reads send one command per record in one pipeline: one round trip, and no
// multi-key command (MGET), because the records live in different hash slots; on a Cluster
// go-redis splits the pipeline by node.

// UsersByID implements auth.BatchReader with a pipelined GET per user. A tombstone (a user
// being deleted) is absent, as User answers ErrNotFound for it.
func (s *Store) UsersByID(ctx context.Context, ids []int64) (map[int64]*auth.User, error) {
	const op = "users by id"
	cmds := make([]*redis.StringCmd, len(ids))
	// Pipelined's own error is the first failed command's, redis.Nil included: each
	// command's error is checked below instead.
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, s.name.user(id))
		}
		return nil
	})
	found := make(map[int64]*auth.User, len(ids))
	for i, cmd := range cmds {
		b, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fail(op, err)
		}
		u, err := decodeUser(ids[i], b)
		if errors.Is(err, errTombstone) {
			continue
		}
		if err != nil {
			return nil, fail(op, err)
		}
		found[ids[i]] = u
	}
	return found, nil
}

// AccountsByID implements auth.BatchReader with a pipelined GET per account.
func (s *Store) AccountsByID(ctx context.Context, ids []int64) (map[int64]*auth.Account, error) {
	const op = "accounts by id"
	cmds := make([]*redis.StringCmd, len(ids))
	// Pipelined's own error is the first failed command's, redis.Nil included: each
	// command's error is checked below instead.
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, s.name.account(id))
		}
		return nil
	})
	found := make(map[int64]*auth.Account, len(ids))
	for i, cmd := range cmds {
		b, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fail(op, err)
		}
		a, err := decodeAccount(ids[i], b)
		if err != nil {
			return nil, fail(op, err)
		}
		found[ids[i]] = a
	}
	return found, nil
}

// UsersWithTOTP implements auth.BatchReader with a pipelined HEXISTS of the secret per user:
// TOTP is on exactly when the hash holds one (see totp.go).
func (s *Store) UsersWithTOTP(ctx context.Context, userIDs []int64) (map[int64]bool, error) {
	const op = "users with totp"
	cmds := make([]*redis.BoolCmd, len(userIDs))
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range userIDs {
			cmds[i] = p.HExists(ctx, s.name.totp(id), fieldSecret)
		}
		return nil
	})
	on := make(map[int64]bool)
	for i, cmd := range cmds {
		set, err := cmd.Result()
		if err != nil {
			return nil, fail(op, err)
		}
		if set {
			on[userIDs[i]] = true
		}
	}
	return on, nil
}
