package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
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
		if errors.Is(err, errTombstone) {
			continue // revoked: DeleteKey removes the entry when it finishes
		}
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

// DeleteKey implements auth.KeyStore in three steps (see doc.go, "Revoking a credential"):
//
//  1. revokeKey marks the record revoked, in one atomic step; from then on the key makes no
//     session: Key answers ErrNotFound, and CreateSession, CreateFamily and Rotate, which
//     check the key after writing their session, undo it.
//  2. endKeySessions ends every session and family of the user that was made from the key.
//  3. The record goes, then its index entry.
//
// A call that fails in step 1 or 2 answers ErrUnavailable and leaves the record (revoked,
// unless step 1 never ran); the next call finds it in step 1 (revokeKey answers a revoked
// record as it is), finishes, and answers the key. Step 3 cannot fail the call.
func (s *Store) DeleteKey(ctx context.Context, userID, id int64) (*auth.UserKey, error) {
	const op = "delete key"
	v, err := revokeKey.Run(ctx, s.rdb, []string{s.name.key(id)}, keyHead(userID), revokedMark).Text()
	if err != nil {
		return nil, fail(op, err)
	}
	k, _, err := decodeKeyRecord(id, []byte(v))
	if err != nil {
		return nil, fail(op, err)
	}
	if err := s.endKeySessions(ctx, userID, id); err != nil {
		return nil, fail(op, err)
	}
	// The key can make no session and has none left: the revocation is done, and the answer
	// is the key whatever happens next. Failing from here on would make the caller retry
	// into ErrNotFound whenever the DEL ran and only its answer was lost. The removal must
	// not stop because the caller gave up, either.
	uctx, cancel := undoContext(ctx)
	defer cancel()
	if err := s.rdb.Del(uctx, s.name.key(id)).Err(); err != nil {
		// The record may stay, revoked: invisible, unusable, and still in its user's index,
		// where a later DeleteKey of it, or DeleteUser, finds and removes it.
		return k, nil
	}
	// A failed SREM leaves an entry that KeysOf drops.
	_ = s.rdb.SRem(uctx, s.name.keysOf(userID), id).Err()
	return k, nil
}

// endKeySessions ends every refresh token family of userID made from key keyID (found by
// its "k" field through the user's family index, so also one whose access sessions have
// all expired) and every session made from it (found through the user's session index),
// with the family of each refreshable one. Any creation that passed its credential check
// before the key was revoked had written its session, and its family, to those indexes
// before that check, so they are found here.
func (s *Store) endKeySessions(ctx context.Context, userID, keyID int64) error {
	fids, err := s.rdb.SMembers(ctx, s.name.familiesOf(userID)).Result()
	if err != nil {
		return err
	}
	owners := make([]*redis.StringCmd, len(fids))
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, f := range fids {
			fid, _ := strconv.ParseInt(f, 10, 64)
			owners[i] = p.HGet(ctx, s.name.family(fid), "k")
		}
		return nil
	})
	revoke := map[int64]bool{}
	for i, c := range owners {
		k, err := c.Result()
		if errors.Is(err, redis.Nil) {
			continue // gone, or not made from a key
		}
		if err != nil {
			return err
		}
		if k == itoa(keyID) {
			fid, _ := strconv.ParseInt(fids[i], 10, 64)
			revoke[fid] = true
		}
	}
	sessions, err := s.SessionsOf(ctx, userID)
	if err != nil {
		return err
	}
	drop := map[int64]token.Digest{}
	for _, sess := range sessions {
		if sess.UserKeyID != keyID {
			continue
		}
		drop[sess.ID] = sess.TokenDigest
		if sess.FamilyID != 0 {
			// Possibly a family being created, not in the family index yet.
			revoke[sess.FamilyID] = true
		}
	}
	for fid := range revoke {
		if err := s.RevokeFamily(ctx, userID, fid); err != nil && !errors.Is(err, auth.ErrNotFound) {
			return err
		}
	}
	return s.dropSessions(ctx, userID, drop)
}
