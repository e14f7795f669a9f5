package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// editError carries an error of a caller's edit function through update, so that it reaches
// the caller as it is instead of as a Redis failure.
type editError struct{ err error }

func (e editError) Error() string { return e.err.Error() }

func passEditError(err error) error {
	var ee editError
	if errors.As(err, &ee) {
		return ee.err
	}
	return err
}

// UpdateUser implements auth.UserStore: a WATCH transaction on the record. A user being
// deleted (a tombstone) is not found.
func (s *Store) UpdateUser(ctx context.Context, id int64, edit func(*auth.User) error) (*auth.User, error) {
	var out *auth.User
	err := s.update(ctx, "update user", s.name.user(id), func(b []byte) ([]byte, error) {
		u, err := decodeUser(id, b)
		if err != nil {
			return nil, err
		}
		username, email := u.Username, u.Email
		if err := edit(u); err != nil {
			return nil, editError{err}
		}
		u.ID, u.Username = id, username // the username claim keys on it: it cannot change here
		u.Email = email                 // nor can the email: SetEmail claims it
		out = u
		return encodeUser(u)
	})
	if err != nil {
		return nil, passEditError(err)
	}
	return out, nil
}

// UpdateKey implements auth.KeyStore.
func (s *Store) UpdateKey(ctx context.Context, id int64, edit func(*auth.UserKey) error) (*auth.UserKey, error) {
	var out *auth.UserKey
	err := s.update(ctx, "update key", s.name.key(id), func(b []byte) ([]byte, error) {
		k, err := decodeKey(id, b)
		if err != nil {
			return nil, err
		}
		owner := k.UserID
		if err := edit(k); err != nil {
			return nil, editError{err}
		}
		k.ID, k.UserID = id, owner // keyHead and the owner's index key on it
		out = k
		return encodeKey(k)
	})
	if err != nil {
		return nil, passEditError(err)
	}
	return out, nil
}

// ListUsers implements auth.UserStore with one ZRANGE … BYSCORE LIMIT on the index of
// users and one pipelined GET per user: its cost depends on the page, not on the number of
// users.
func (s *Store) ListUsers(ctx context.Context, after, before int64, limit int, fromEnd bool) ([]*auth.User, error) {
	const op = "list users"
	if limit <= 0 {
		return nil, nil
	}
	lo, hi := "("+itoa(after), "+inf"
	if before > 0 {
		hi = "(" + itoa(before)
	}
	args := redis.ZRangeArgs{Key: s.name.users(), Start: lo, Stop: hi, ByScore: true, Count: int64(limit)}
	if fromEnd {
		args.Start, args.Stop, args.Rev = hi, lo, true
	}
	members, err := s.rdb.ZRangeArgs(ctx, args).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	recs, stale, err := s.readIndexed(ctx, members, s.name.user)
	if err != nil {
		return nil, fail(op, err)
	}
	users := make([]*auth.User, 0, len(recs))
	for _, r := range recs {
		u, err := decodeUser(r.id, r.b)
		if errors.Is(err, errTombstone) {
			continue // being deleted: DeleteUser removes the entry
		}
		if err != nil {
			return nil, fail(op, err)
		}
		users = append(users, u)
	}
	if len(stale) > 0 {
		_ = s.rdb.ZRem(ctx, s.name.users(), stale...).Err() // best effort
	}
	if fromEnd {
		slices.Reverse(users)
	}
	return users, nil
}

// CountUsers implements auth.UserStore (ZCARD).
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	n, err := s.rdb.ZCard(ctx, s.name.users()).Result()
	if err != nil {
		return 0, fail("count users", err)
	}
	return int(n), nil
}

// DeleteUser implements auth.UserStore. See doc.go for the order of its steps.
func (s *Store) DeleteUser(ctx context.Context, id int64) (*auth.User, error) {
	const op = "delete user"
	v, err := markDeleted.Run(ctx, s.rdb, []string{s.name.user(id)}).Text()
	if err != nil {
		return nil, fail(op, err)
	}
	won := v[0] != tombstone
	if !won {
		v = v[1:]
	}
	u, err := decodeUser(id, []byte(v))
	if err != nil {
		return nil, fail(op, err)
	}
	// The winner and any later caller (one that finds the tombstone of a purge that failed
	// half-way) purge alike: every step is idempotent.
	if err := s.purgeUser(ctx, u); err != nil {
		return nil, fail(op, err)
	}
	if !won {
		return nil, notFound(op)
	}
	return u, nil
}

// purgeUser removes everything of u whose record is a tombstone already, the record last.
func (s *Store) purgeUser(ctx context.Context, u *auth.User) error {
	familiesIndex := s.name.familiesOf(u.ID)
	fids, err := s.rdb.SMembers(ctx, familiesIndex).Result()
	if err != nil {
		return err
	}
	for _, f := range fids {
		if fid, err := strconv.ParseInt(f, 10, 64); err == nil {
			if err := s.purgeFamily(ctx, u.ID, fid); err != nil {
				return err
			}
		}
	}
	keysIndex := s.name.keysOf(u.ID)
	keyIDs, err := s.rdb.SMembers(ctx, keysIndex).Result()
	if err != nil {
		return err
	}
	if err := s.deleteAll(ctx, len(keyIDs), func(p redis.Pipeliner, i int) {
		if id, err := strconv.ParseInt(keyIDs[i], 10, 64); err == nil {
			deleteIfPrefix.Eval(ctx, p, []string{s.name.key(id)}, keyHead(u.ID))
		}
	}); err != nil {
		return err
	}
	sessionsIndex := s.name.sessionsOf(u.ID)
	entries, err := s.rdb.HGetAll(ctx, sessionsIndex).Result()
	if err != nil {
		return err
	}
	type entry struct {
		id     int64
		digest token.Digest
	}
	var sessions []entry
	for field, digest := range entries {
		if id, err := strconv.ParseInt(field, 10, 64); err == nil && len(digest) == len(token.Digest{}) {
			sessions = append(sessions, entry{id, token.Digest([]byte(digest))})
		}
	}
	if err := s.deleteAll(ctx, len(sessions), func(p redis.Pipeliner, i int) {
		deleteIfPrefix.Eval(ctx, p, []string{s.name.token(sessions[i].digest)}, sessionOwner(sessions[i].id, u.ID), 2)
	}); err != nil {
		return err
	}
	if err := s.purgePasskeys(ctx, u.ID); err != nil {
		return err
	}
	if err := s.releaseIdentities(ctx, u.ID); err != nil {
		return err
	}
	// The indexes, the second factor, the passkeys and the linked identities share the
	// {u<id>} hash tag: one DEL, even on a Cluster.
	if err := s.rdb.Del(ctx, keysIndex, sessionsIndex, familiesIndex, s.name.totp(u.ID), s.name.totpNew(u.ID), s.name.passkeysOf(u.ID), s.name.identitiesOf(u.ID)).Err(); err != nil {
		return err
	}
	if err := s.rdb.ZRem(ctx, s.name.users(), u.ID).Err(); err != nil {
		return err
	}
	if err := hdelIfEqual.Run(ctx, s.rdb, []string{s.name.username(u.Username)}, itoa(u.AccountID), u.ID).Err(); err != nil {
		return err
	}
	if err := s.releaseEmail(ctx, u.AccountID, u.Email, u.ID); err != nil {
		return err
	}
	return s.rdb.Del(ctx, s.name.user(u.ID)).Err()
}

// deleteAll runs n pipelined commands that add(p, i) queues, and answers the first error
// other than redis.Nil (a script that found nothing to delete answers nil).
func (s *Store) deleteAll(ctx context.Context, n int, add func(p redis.Pipeliner, i int)) error {
	if n == 0 {
		return nil
	}
	cmds, _ := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range n {
			add(p, i)
		}
		return nil
	})
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}

// checkCredentials answers nil if the credentials that sess is made from still hold (see
// auth.SessionStore.CreateSession): its user exists, is not being deleted or disabled and,
// if sess names one, still has the password version the sign-in verified; its key, if any,
// exists, is not revoked and is the user's. Else an error that fail makes ErrNotFound, or
// the Redis error.
//
// Callers run it after writing the session (and family) to the indexes that revocations
// sweep, and undo their writes if it fails. Every revocation changes the credential first
// (markDeleted, revokeKey, UpdateUser for the disabled flag or the password) and sweeps the
// indexes second. Each Redis command is atomic and the steps of each side run in order, so
// if this check ran before the credential changed, the index entry was there before the
// sweep started and the sweep ends the session; if after, this check sees the change and
// the creation undoes itself. No interleaving leaves a session that outlives the
// revocation. (Reads go to the masters: go-redis reads from replicas only if told to.)
func (s *Store) checkCredentials(ctx context.Context, sess *auth.Session) error {
	var user, key *redis.StringCmd
	// One round trip for both reads; Pipelined's own error is checked per command below.
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		user = p.Get(ctx, s.name.user(sess.UserID))
		if sess.UserKeyID != 0 {
			key = p.Get(ctx, s.name.key(sess.UserKeyID))
		}
		return nil
	})
	b, err := user.Bytes()
	if err != nil {
		return err // redis.Nil: fail() makes it ErrNotFound
	}
	u, err := decodeUser(sess.UserID, b)
	if err != nil {
		return err
	}
	if u.Disabled || (sess.PasswordVersion != nil && *sess.PasswordVersion != u.PasswordVersion) {
		return errRevoked
	}
	if key == nil {
		return nil
	}
	if b, err = key.Bytes(); err != nil {
		return err
	}
	k, err := decodeKey(sess.UserKeyID, b) // errTombstone if revoked
	if err != nil {
		return err
	}
	if k.UserID != sess.UserID {
		return errRevoked
	}
	return nil
}

// errRevoked says that a credential a session depends on no longer holds; fail makes it
// ErrNotFound.
var errRevoked = errors.New("credential revoked")

// checkUserLives answers nil if user id exists and is not being deleted, ErrNotFound if not,
// or the Redis error.
func (s *Store) checkUserLives(ctx context.Context, id int64) error {
	b, err := s.rdb.Get(ctx, s.name.user(id)).Bytes()
	if err != nil {
		return err // redis.Nil: fail() makes it ErrNotFound
	}
	if len(b) > 0 && b[0] == tombstone {
		return errTombstone
	}
	return nil
}

// TouchSession implements auth.SessionStore: one EVALSHA that rewrites the record, keeping
// its TTL, only if it still is this session's.
func (s *Store) TouchSession(ctx context.Context, sess *auth.Session, at time.Time) error {
	c := *sess
	t := at.UTC()
	c.LastUsedAt = &t
	err := setIfPrefix.Run(ctx, s.rdb, []string{s.name.token(sess.TokenDigest)},
		sessionOwner(sess.ID, sess.UserID), 2, encodeSession(&c)).Err()
	if err != nil {
		return fail("touch session", err)
	}
	return nil
}

// DeleteSessionsOf implements auth.SessionStore: one HGETALL of the user's index, one
// pipeline of delete scripts (each atomic, so a session is counted by one caller only), and
// one HDEL of the entries.
func (s *Store) DeleteSessionsOf(ctx context.Context, userID, exceptID int64) (int, error) {
	const op = "delete sessions of user"
	index := s.name.sessionsOf(userID)
	entries, err := s.rdb.HGetAll(ctx, index).Result()
	if err != nil {
		return 0, fail(op, err)
	}
	var (
		fields []string
		cmds   []*redis.Cmd
		stale  []string
	)
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for field, digest := range entries {
			id, err := strconv.ParseInt(field, 10, 64)
			if err != nil || len(digest) != len(token.Digest{}) {
				stale = append(stale, field)
				continue
			}
			if id == exceptID {
				continue
			}
			fields = append(fields, field)
			cmds = append(cmds, deleteIfPrefix.Eval(ctx, p, []string{s.name.token(token.Digest([]byte(digest)))}, sessionOwner(id, userID), 2))
		}
		return nil
	})
	now := s.clock.Now()
	ended := 0
	var firstErr error
	for i, cmd := range cmds {
		rec, err := cmd.Text()
		switch {
		case errors.Is(err, redis.Nil):
			stale = append(stale, fields[i]) // gone already
		case err != nil:
			if firstErr == nil {
				firstErr = err
			}
		default:
			stale = append(stale, fields[i])
			if sess, err := decodeSession([]byte(rec)); err == nil && !sess.Expired(now) {
				ended++
			}
		}
	}
	if len(stale) > 0 {
		_ = s.rdb.HDel(ctx, index, stale...).Err() // best effort: SessionsOf drops what is left
	}
	if firstErr != nil {
		return ended, fail(op, firstErr)
	}
	// Then the families, so that a refresh racing with this cannot keep a new access session:
	// revoking a family ends the sessions it made. The kept session's own family goes on.
	var keep int64
	if d, ok := entries[itoa(exceptID)]; ok && len(d) == len(token.Digest{}) {
		b, err := s.rdb.Get(ctx, s.name.token(token.Digest([]byte(d)))).Bytes()
		switch {
		case err == nil:
			if sess, err := decodeSession(b); err == nil {
				keep = sess.FamilyID
			}
		case !errors.Is(err, redis.Nil):
			// Not knowing the kept session's family, going on would end it with the others:
			// the caller, who asked to stay signed in, would be signed out by an outage.
			return ended, fail(op, err)
		}
	}
	fids, err := s.rdb.SMembers(ctx, s.name.familiesOf(userID)).Result()
	if err != nil {
		return ended, fail(op, err)
	}
	for _, f := range fids {
		fid, err := strconv.ParseInt(f, 10, 64)
		if err != nil || fid == keep {
			continue
		}
		if err := s.RevokeFamily(ctx, userID, fid); err != nil && !errors.Is(err, auth.ErrNotFound) {
			return ended, err
		}
	}
	return ended, nil
}

// purgeFamily deletes a family with everything it made: the family hash and its token set
// in one atomic step (a rotation racing with it then finds the family gone and undoes its
// own writes), then every refresh token pointer and grace key of the family, and its access
// sessions. On a family already revoked it deletes what revoking leaves: the token set and
// the pointers.
func (s *Store) purgeFamily(ctx context.Context, userID, fid int64) error {
	res, err := purgeFamily.Run(ctx, s.rdb, []string{s.name.family(fid), s.name.familyTokens(fid)}).Slice()
	if err != nil {
		return err
	}
	if len(res) != 2 {
		return fmt.Errorf("%w: purgeFamily answered %d items", errCorrupt, len(res))
	}
	digests, _ := res[0].([]any)
	access, _ := res[1].([]any)
	if err := s.deleteAll(ctx, len(digests), func(p redis.Pipeliner, i int) {
		if d, ok := digests[i].(string); ok && len(d) == len(token.Digest{}) {
			// Two slots (r:<digest> and {f<fid>}:…), so two DELs: one would be refused with
			// CROSSSLOT on a Redis Cluster.
			p.Del(ctx, s.name.refresh(token.Digest([]byte(d))))
			p.Del(ctx, s.name.grace(fid, token.Digest([]byte(d))))
		}
	}); err != nil {
		return err
	}
	return s.dropSessions(ctx, userID, accessPairs(access))
}

// indexFamily adds a new family to its user's index, then checks the credentials of its
// first session (checkCredentials): a revocation that ran meanwhile (DeleteUser, DeleteKey,
// DeleteSessionsOf after disabling the user or changing the password) may have read the
// index before the SADD, so if a credential is revoked the family is purged here (as
// CreateKey and CreateSession undo theirs). Every 64 families it prunes the index of those
// that are gone (their token set has expired).
func (s *Store) indexFamily(ctx context.Context, first *auth.Session, fid int64, expires time.Time) error {
	userID := first.UserID
	index := s.name.familiesOf(userID)
	var size *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, index, fid)
		p.Do(ctx, "PEXPIREAT", index, expires.UnixMilli(), "NX")
		p.Do(ctx, "PEXPIREAT", index, expires.UnixMilli(), "GT")
		size = p.SCard(ctx, index)
		return nil
	})
	if err == nil {
		err = s.checkCredentials(ctx, first)
	}
	if err != nil {
		uctx, cancel := undoContext(ctx)
		defer cancel()
		_ = s.purgeFamily(uctx, userID, fid)
		_ = s.rdb.SRem(uctx, index, fid).Err()
		return err
	}
	if size.Val()%pruneEvery == 0 {
		s.pruneFamilies(ctx, userID) // best effort
	}
	return nil
}

// pruneFamilies drops from a user's family index the families whose token set is gone
// (purged or expired): nothing of them is left to find.
func (s *Store) pruneFamilies(ctx context.Context, userID int64) {
	index := s.name.familiesOf(userID)
	fids, err := s.rdb.SMembers(ctx, index).Result()
	if err != nil {
		return
	}
	cmds := make([]*redis.IntCmd, len(fids))
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, f := range fids {
			fid, _ := strconv.ParseInt(f, 10, 64)
			cmds[i] = p.Exists(ctx, s.name.familyTokens(fid))
		}
		return nil
	})
	var gone []any
	for i, c := range cmds {
		if n, err := c.Result(); err == nil && n == 0 {
			gone = append(gone, fids[i])
		}
	}
	if len(gone) > 0 {
		_ = s.rdb.SRem(ctx, index, gone...).Err()
	}
}
