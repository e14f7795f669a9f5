package redisstore

import (
	"context"
	"errors"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// record is one record an index entry names: its id and its stored bytes.
type record struct {
	id int64
	b  []byte
}

// readIndexed reads the records that an index's members name, with one pipelined GET each
// (one round trip, and no multi-key command, so it works on a Cluster whatever the slots).
// It answers the records found, in the members' order, and the members that name nothing
// (not an id, or the record is gone) for the caller to remove from its index.
func (s *Store) readIndexed(ctx context.Context, members []string, key func(int64) string) ([]record, []any, error) {
	ids := make([]int64, 0, len(members))
	var stale []any
	for _, m := range members {
		if id, err := strconv.ParseInt(m, 10, 64); err == nil {
			ids = append(ids, id)
		} else {
			stale = append(stale, m)
		}
	}
	cmds := make([]*redis.StringCmd, len(ids))
	// Pipelined's own error is the first failed command's, redis.Nil included: each command's
	// error is checked below instead.
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, key(id))
		}
		return nil
	})
	found := make([]record, 0, len(ids))
	for i, cmd := range cmds {
		b, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			stale = append(stale, ids[i]) // record first, index second: the entry is stale
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		found = append(found, record{ids[i], b})
	}
	return found, stale, nil
}
