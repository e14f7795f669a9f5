package redisstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/authgraph/authgraph/internal/auth"
)

// CreateKey implements auth.KeyStore. The user must exist (ErrNotFound otherwise).
func (s *Store) CreateKey(ctx context.Context, k *auth.UserKey) error {
	const op = "create key"
	rec, err := encodeKey(k)
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	id, err := s.rdb.Incr(ctx, s.name.seq("k")).Result()
	if err != nil {
		return fail(op, err)
	}
	// Record first, index second: see doc.go.
	if err := s.rdb.Set(ctx, s.name.key(id), rec, 0).Err(); err != nil {
		return fail(op, err)
	}
	if err := s.rdb.SAdd(ctx, s.name.keysOf(k.UserID), id).Err(); err != nil {
		uctx, cancel := undoContext(ctx)
		defer cancel()
		_ = s.rdb.Del(uctx, s.name.key(id)).Err()
		return fail(op, err)
	}
	// A DeleteUser that ran meanwhile may have listed the user's keys before the SADD: then
	// the user is gone now, and the key must go too (see doc.go).
	if err := s.checkUserLives(ctx, k.UserID); err != nil {
		uctx, cancel := undoContext(ctx)
		defer cancel()
		_ = s.rdb.Del(uctx, s.name.key(id)).Err()
		_ = s.rdb.SRem(uctx, s.name.keysOf(k.UserID), id).Err()
		return fail(op, err)
	}
	k.ID = id
	return nil
}

// Key implements auth.KeyStore. A key past its ExpiresAt is still answered: the domain
// refuses to use it, and its owner can still see and delete it.
func (s *Store) Key(ctx context.Context, id int64) (*auth.UserKey, error) {
	const op = "key"
	b, err := s.rdb.Get(ctx, s.name.key(id)).Bytes()
	if err != nil {
		return nil, fail(op, err)
	}
	k, err := decodeKey(id, b)
	if err != nil {
		return nil, fail(op, err)
	}
	return k, nil
}

// KeysOf implements auth.KeyStore. It drops the index entries of keys that are gone.
func (s *Store) KeysOf(ctx context.Context, userID int64) ([]*auth.UserKey, error) {
	const op = "keys of user"
	index := s.name.keysOf(userID)
	members, err := s.rdb.SMembers(ctx, index).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	recs, stale, err := s.readIndexed(ctx, members, s.name.key)
	if err != nil {
		return nil, fail(op, err)
	}
	keys := make([]*auth.UserKey, 0, len(recs))
	for _, r := range recs {
		k, err := decodeKey(r.id, r.b)
		if err != nil {
			return nil, fail(op, err)
		}
		if k.UserID != userID {
			stale = append(stale, r.id)
			continue
		}
		keys = append(keys, k)
	}
	if len(stale) > 0 {
		// Best effort: a failure leaves the entries for the next listing.
		_ = s.rdb.SRem(ctx, index, stale...).Err()
	}
	slices.SortFunc(keys, func(a, b *auth.UserKey) int { return cmp.Compare(a.ID, b.ID) })
	return keys, nil
}

// SetKeyHash implements auth.KeyStore.
func (s *Store) SetKeyHash(ctx context.Context, id int64, hash string) error {
	return s.update(ctx, "set key hash", s.name.key(id), func(b []byte) ([]byte, error) {
		k, err := decodeKey(id, b)
		if err != nil {
			return nil, err
		}
		k.SecretHash = hash
		return encodeKey(k)
	})
}

// DeleteKey implements auth.KeyStore.
func (s *Store) DeleteKey(ctx context.Context, userID, id int64) (*auth.UserKey, error) {
	const op = "delete key"
	v, err := deleteIfPrefix.Run(ctx, s.rdb, []string{s.name.key(id)}, keyHead(userID)).Text()
	if err != nil {
		return nil, fail(op, err)
	}
	// The key is gone: from here on, failing would only make the caller retry into
	// ErrNotFound. A failed SREM leaves an entry that KeysOf drops.
	_ = s.rdb.SRem(ctx, s.name.keysOf(userID), id).Err()
	k, err := decodeKey(id, []byte(v))
	if err != nil {
		return nil, fail(op, err)
	}
	return k, nil
}
