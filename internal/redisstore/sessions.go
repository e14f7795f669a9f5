package redisstore

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// pruneEvery is how often, in entries, CreateSession prunes a user's session index, so that
// the index of a user who keeps signing in but never lists sessions stays bounded.
const pruneEvery = 64

// CreateSession implements auth.SessionStore. A digest that another session still holds is
// ErrConflict: a session must never take over another's token. The user must exist
// (ErrNotFound otherwise).
func (s *Store) CreateSession(ctx context.Context, sess *auth.Session) error {
	const op = "create session"
	id, err := s.rdb.Incr(ctx, s.name.seq("s")).Result()
	if err != nil {
		return fail(op, err)
	}
	if sess.Expired(s.clock.Now()) {
		// Over already: there is nothing to keep (and a zero ExpiresAt would mean no TTL).
		sess.ID = id
		return nil
	}
	rec := *sess
	rec.ID = id
	tokenKey := s.name.token(sess.TokenDigest)
	expireAt := ceilMilli(sess.ExpiresAt)
	// Record first, index second: see doc.go.
	err = s.rdb.SetArgs(ctx, tokenKey, encodeSession(&rec), redis.SetArgs{Mode: "NX", ExpireAt: expireAt}).Err()
	if errors.Is(err, redis.Nil) {
		return conflict(op)
	}
	if err != nil {
		return fail(op, err)
	}
	index := s.name.sessionsOf(sess.UserID)
	var size *redis.IntCmd
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, index, itoa(id), sess.TokenDigest[:])
		// The index lives as long as the user's longest-lived session: NX gives a new index
		// its first TTL, GT only ever extends it.
		p.Do(ctx, "PEXPIREAT", index, expireAt.UnixMilli(), "NX")
		p.Do(ctx, "PEXPIREAT", index, expireAt.UnixMilli(), "GT")
		size = p.HLen(ctx, index)
		return nil
	})
	if err != nil {
		// A session missing from its index could be neither listed nor ended by id. Its
		// token was never handed out, so dropping it loses nothing.
		uctx, cancel := undoContext(ctx)
		defer cancel()
		_ = s.rdb.Del(uctx, tokenKey).Err()
		return fail(op, err)
	}
	// The session is written where every revocation's sweep looks; only now may its
	// credentials be checked (see checkCredentials).
	if err := s.checkCredentials(ctx, sess); err != nil {
		uctx, cancel := undoContext(ctx)
		defer cancel()
		_ = s.rdb.Del(uctx, tokenKey).Err()
		_ = s.rdb.HDel(uctx, index, itoa(id)).Err()
		return fail(op, err)
	}
	if n := size.Val(); n%pruneEvery == 0 {
		_, _ = s.SessionsOf(ctx, sess.UserID) // best effort: it prunes as it lists
	}
	sess.ID = id
	return nil
}

// SessionByDigest implements auth.SessionStore in one round trip: it is on every request's
// path.
func (s *Store) SessionByDigest(ctx context.Context, d token.Digest) (*auth.Session, error) {
	const op = "session by digest"
	b, err := s.rdb.Get(ctx, s.name.token(d)).Bytes()
	if err != nil {
		return nil, fail(op, err)
	}
	sess, err := decodeSession(b)
	if err != nil {
		return nil, fail(op, err)
	}
	if sess.Expired(s.clock.Now()) {
		return nil, notFound(op)
	}
	sess.TokenDigest = d
	return sess, nil
}

// SessionsOf implements auth.SessionStore. It drops the index entries of sessions that are
// gone or expired.
func (s *Store) SessionsOf(ctx context.Context, userID int64) ([]*auth.Session, error) {
	const op = "sessions of user"
	index := s.name.sessionsOf(userID)
	entries, err := s.rdb.HGetAll(ctx, index).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	type entry struct {
		field  string
		id     int64
		digest token.Digest
		get    *redis.StringCmd
	}
	var (
		live  []entry
		stale []string
	)
	for field, digest := range entries {
		id, err := strconv.ParseInt(field, 10, 64)
		if err != nil || len(digest) != len(token.Digest{}) {
			stale = append(stale, field)
			continue
		}
		live = append(live, entry{field: field, id: id, digest: token.Digest([]byte(digest))})
	}
	// Pipelined's own error is the first failed command's, redis.Nil included: each command's
	// error is checked below instead.
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range live {
			live[i].get = p.Get(ctx, s.name.token(live[i].digest))
		}
		return nil
	})
	now := s.clock.Now()
	sessions := make([]*auth.Session, 0, len(live))
	for _, e := range live {
		b, err := e.get.Bytes()
		if errors.Is(err, redis.Nil) {
			stale = append(stale, e.field)
			continue
		}
		if err != nil {
			return nil, fail(op, err)
		}
		sess, err := decodeSession(b)
		if err != nil {
			return nil, fail(op, err)
		}
		if sess.ID != e.id || sess.UserID != userID || sess.Expired(now) {
			stale = append(stale, e.field)
			continue
		}
		sess.TokenDigest = e.digest
		sessions = append(sessions, sess)
	}
	if len(stale) > 0 {
		// Best effort: a failure leaves the entries for the next listing.
		_ = s.rdb.HDel(ctx, index, stale...).Err()
	}
	slices.SortFunc(sessions, func(a, b *auth.Session) int { return cmp.Compare(a.ID, b.ID) })
	return sessions, nil
}

// DeleteSession implements auth.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, userID, id int64) (*auth.Session, error) {
	const op = "delete session"
	index, field := s.name.sessionsOf(userID), itoa(id)
	v, err := s.rdb.HGet(ctx, index, field).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	if len(v) != len(token.Digest{}) {
		return nil, fail(op, errCorrupt)
	}
	d := token.Digest([]byte(v))
	rec, err := deleteIfPrefix.Run(ctx, s.rdb, []string{s.name.token(d)}, sessionOwner(id, userID), 2).Text()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fail(op, err)
	}
	// Deleted now or earlier (or expired), the session no longer needs its index entry. A
	// failed HDEL leaves it for SessionsOf to drop; the session is gone either way.
	_ = s.rdb.HDel(ctx, index, field).Err()
	if err != nil {
		return nil, fail(op, err)
	}
	sess, err := decodeSession([]byte(rec))
	if err != nil {
		return nil, fail(op, err)
	}
	if sess.Expired(s.clock.Now()) {
		return nil, notFound(op)
	}
	sess.TokenDigest = d
	return sess, nil
}

// ceilMilli rounds t up to the millisecond, the precision of PEXPIREAT, so that Redis never
// drops a session before its ExpiresAt.
func ceilMilli(t time.Time) time.Time {
	ms := t.UnixMilli()
	if t.Sub(time.UnixMilli(ms)) > 0 {
		ms++
	}
	return time.UnixMilli(ms)
}
