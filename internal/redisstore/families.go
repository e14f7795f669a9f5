package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// Token families (auth.RefreshStore). doc.go describes the keys; in short:
//
//	p {f<id>}                 HASH: the family (fields below), PEXPIREAT its current refresh
//	                          token's expiry
//	p {f<id>}:g:<digest>      HASH {d: deadline ms, s: sealed successor pair} of a token rotated
//	                          less than the grace window ago; PEXPIRE the window
//	p r:<digest>              STRING "<family id>:<expiry ms>" for every refresh token of a
//	                          family, current or rotated; PEXPIREAT that token's expiry
//
// Family fields: u user id · t method · k user key id (if any) · n name (if any) · c created
// (Unix ns) · r current refresh digest (32 bytes) · e its expiry (Unix ms, rounded up) ·
// a:<session id> → access session digest (32 bytes) and expiry (Unix ms) of each access
// session the family made and that has not expired.
//
//	p {f<id>}:p               SET of the digests of every refresh token the family issued,
//	                          expiring with the family's latest token: DeleteUser reads it to
//	                          delete every pointer of the user's families (lifecycle.go)
//	p {u<uid>}:f              SET of the user's family ids, expiring with the user's
//	                          latest-expiring family: how DeleteUser and DeleteSessionsOf find
//	                          families whose access sessions have all expired

func (n names) family(id int64) string { return n.prefix + "{f" + itoa(id) + "}" }

func (n names) grace(id int64, d token.Digest) string {
	return n.family(id) + ":g:" + string(d[:])
}

func (n names) refresh(d token.Digest) string { return n.prefix + "r:" + string(d[:]) }

// rotate is auth.Rotation's atomic step. Its keys are the family, the presented token's
// grace key and the family's token set: one hash slot, {f<id>}. See auth.Rotation for the
// rules.
//
//	KEYS[1] family, KEYS[2] grace key of the presented token, KEYS[3] token set
//	ARGV[1] presented digest   ARGV[2] now (ms)         ARGV[3] next digest
//	ARGV[4] next expiry (ms)   ARGV[5] grace (ms, 0: none)
//	ARGV[6] grace deadline (ms)  ARGV[7] sealed pair
//	ARGV[8] access field "a:<id>"  ARGV[9] access digest and expiry (ms)
//
// Answers {'gone'}, {'rotated'}, {'replayed', sealed} or {'reused', id, digest, …} with the
// access sessions of the family it revoked, for the caller to delete (they live in other
// slots).
var rotate = redis.NewScript(`
local fam, grace = KEYS[1], KEYS[2]
local now = tonumber(ARGV[2])
local cur = redis.call('HMGET', fam, 'r', 'e')
if not cur[1] or now >= tonumber(cur[2]) then
	return {'gone'}
end
if cur[1] == ARGV[1] then
	redis.call('HSET', fam, 'r', ARGV[3], 'e', ARGV[4], ARGV[8], ARGV[9])
	local all = redis.call('HGETALL', fam)
	for i = 1, #all, 2 do
		if string.sub(all[i], 1, 2) == 'a:' and tonumber(string.sub(all[i + 1], 33)) <= now then
			redis.call('HDEL', fam, all[i])
		end
	end
	redis.call('PEXPIREAT', fam, ARGV[4])
	redis.call('SADD', KEYS[3], ARGV[3])
	redis.call('PEXPIREAT', KEYS[3], ARGV[4])
	if tonumber(ARGV[5]) > 0 then
		redis.call('HSET', grace, 'd', ARGV[6], 's', ARGV[7])
		redis.call('PEXPIRE', grace, ARGV[5])
	end
	return {'rotated'}
end
local g = redis.call('HMGET', grace, 'd', 's')
if g[1] and now < tonumber(g[1]) then
	return {'replayed', g[2]}
end
local out = {'reused'}
local all = redis.call('HGETALL', fam)
for i = 1, #all, 2 do
	if string.sub(all[i], 1, 2) == 'a:' then
		out[#out + 1] = string.sub(all[i], 3)
		out[#out + 1] = string.sub(all[i + 1], 1, 32)
	end
end
redis.call('DEL', fam, grace)
return out
`)

// revoke deletes the family KEYS[1] if it belongs to user ARGV[1] and has not expired at
// ARGV[2] (ms), and answers {id, digest, …} of its access sessions for the caller to delete;
// nil if there is no such family.
var revoke = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'u', 'e')
if f[1] ~= ARGV[1] or tonumber(ARGV[2]) >= tonumber(f[2]) then
	return false
end
local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
	if string.sub(all[i], 1, 2) == 'a:' then
		out[#out + 1] = string.sub(all[i], 3)
		out[#out + 1] = string.sub(all[i + 1], 1, 32)
	end
end
redis.call('DEL', KEYS[1])
return out
`)

func accessField(id int64) string { return "a:" + itoa(id) }

func accessValue(s *auth.Session) string {
	return string(s.TokenDigest[:]) + itoa(ceilMilli(s.ExpiresAt).UnixMilli())
}

func pointerValue(familyID int64, expires time.Time) string {
	return itoa(familyID) + ":" + itoa(ceilMilli(expires).UnixMilli())
}

// CreateFamily implements auth.RefreshStore: the first access session, then the family, then
// the pointer from the refresh token; each step undoes the earlier ones if it fails, and
// nothing is reachable before the last one succeeds.
func (s *Store) CreateFamily(ctx context.Context, f *auth.Family, first *auth.Session) error {
	const op = "create family"
	id, err := s.rdb.Incr(ctx, s.name.seq("f")).Result()
	if err != nil {
		return fail(op, err)
	}
	first.FamilyID = id
	if err := s.CreateSession(ctx, first); err != nil {
		first.FamilyID = 0
		return err
	}
	expires := ceilMilli(f.RefreshExpiresAt)
	fields := []any{
		"u", itoa(f.UserID), "t", string(f.Method), "c", itoa(f.CreatedAt.UnixNano()),
		"r", f.RefreshDigest[:], "e", itoa(expires.UnixMilli()),
		accessField(first.ID), accessValue(first),
	}
	if f.UserKeyID != 0 {
		fields = append(fields, "k", itoa(f.UserKeyID))
	}
	if f.Name != "" {
		fields = append(fields, "n", f.Name)
	}
	key, tokens := s.name.family(id), s.name.familyTokens(id)
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, fields...)
		p.PExpireAt(ctx, key, expires)
		p.SAdd(ctx, tokens, f.RefreshDigest[:])
		p.PExpireAt(ctx, tokens, expires)
		return nil
	})
	if err == nil {
		err = s.rdb.SetArgs(ctx, s.name.refresh(f.RefreshDigest), pointerValue(id, expires),
			redis.SetArgs{Mode: "NX", ExpireAt: expires}).Err()
	}
	if err != nil {
		uctx, cancel := undoContext(ctx)
		defer cancel()
		_ = s.rdb.Del(uctx, key, tokens).Err()
		s.dropSessions(uctx, first.UserID, map[int64]token.Digest{first.ID: first.TokenDigest})
		first.FamilyID = 0
		if errors.Is(err, redis.Nil) {
			return conflict(op)
		}
		return fail(op, err)
	}
	// Index the family under its user, then check that the user still lives: see
	// indexFamily (lifecycle.go).
	if err := s.indexFamily(ctx, first, id, expires); err != nil {
		first.FamilyID = 0
		return fail(op, err)
	}
	f.ID = id
	return nil
}

// FamilyByRefreshDigest implements auth.RefreshStore.
func (s *Store) FamilyByRefreshDigest(ctx context.Context, d token.Digest) (*auth.Family, error) {
	const op = "family by refresh digest"
	v, err := s.rdb.Get(ctx, s.name.refresh(d)).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	idText, expText, ok := strings.Cut(v, ":")
	id, err1 := strconv.ParseInt(idText, 10, 64)
	exp, err2 := strconv.ParseInt(expText, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return nil, fail(op, fmt.Errorf("%w: refresh pointer", errCorrupt))
	}
	now := s.clock.Now()
	if !now.Before(time.UnixMilli(exp)) {
		return nil, notFound(op)
	}
	m, err := s.rdb.HGetAll(ctx, s.name.family(id)).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	if len(m) == 0 {
		return nil, notFound(op)
	}
	f, err := decodeFamily(id, m)
	if err != nil {
		return nil, fail(op, err)
	}
	if !now.Before(f.RefreshExpiresAt) {
		return nil, notFound(op)
	}
	return f, nil
}

func decodeFamily(id int64, m map[string]string) (*auth.Family, error) {
	f := &auth.Family{ID: id, Method: auth.SessionMethod(m["t"]), Name: m["n"]}
	var err error
	num := func(field string, optional bool) int64 {
		v, ok := m[field]
		if !ok && optional {
			return 0
		}
		n, e := strconv.ParseInt(v, 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("%w: family field %s", errCorrupt, field)
		}
		return n
	}
	f.UserID = num("u", false)
	f.UserKeyID = num("k", true)
	f.CreatedAt = time.Unix(0, num("c", false)).UTC()
	f.RefreshExpiresAt = time.UnixMilli(num("e", false)).UTC()
	if len(m["r"]) != len(token.Digest{}) && err == nil {
		err = fmt.Errorf("%w: family field r", errCorrupt)
	}
	if err != nil {
		return nil, err
	}
	f.RefreshDigest = token.Digest([]byte(m["r"]))
	return f, nil
}

// Rotate implements auth.RefreshStore. The script cannot write the access session (t:) or the
// successor's pointer (r:), which live in other hash slots, so both are written first, where
// nobody can reach them yet, and removed again unless the script rotated. Writing them after
// the script instead would let a revocation that runs in between miss the new access session.
func (s *Store) Rotate(ctx context.Context, r *auth.Rotation) (*auth.RotationResult, error) {
	const op = "rotate"
	r.Access.FamilyID = r.FamilyID
	if err := s.CreateSession(ctx, r.Access); err != nil {
		return nil, err
	}
	next := s.name.refresh(r.Next)
	undo := func() {
		uctx, cancel := undoContext(ctx)
		defer cancel()
		_ = s.rdb.Del(uctx, next).Err()
		s.dropSessions(uctx, r.Access.UserID, map[int64]token.Digest{r.Access.ID: r.Access.TokenDigest})
	}
	err := s.rdb.SetArgs(ctx, next, pointerValue(r.FamilyID, r.NextExpiresAt),
		redis.SetArgs{Mode: "NX", ExpireAt: ceilMilli(r.NextExpiresAt)}).Err()
	if err != nil {
		uctx, cancel := undoContext(ctx)
		defer cancel()
		s.dropSessions(uctx, r.Access.UserID, map[int64]token.Digest{r.Access.ID: r.Access.TokenDigest})
		if errors.Is(err, redis.Nil) {
			return nil, conflict(op)
		}
		return nil, fail(op, err)
	}
	grace := r.Grace.Milliseconds()
	if grace < 0 {
		grace = 0
	}
	res, err := rotate.Run(ctx, s.rdb,
		[]string{s.name.family(r.FamilyID), s.name.grace(r.FamilyID, r.Presented), s.name.familyTokens(r.FamilyID)},
		r.Presented[:], r.Now.UnixMilli(), r.Next[:], ceilMilli(r.NextExpiresAt).UnixMilli(),
		grace, ceilMilli(r.Now.Add(r.Grace)).UnixMilli(), r.Sealed,
		accessField(r.Access.ID), accessValue(r.Access),
	).Slice()
	if err != nil {
		// The script may have run and only its answer been lost: undoing now could orphan a
		// rotated family. What is left is unreachable if it did not run, and expires. But if
		// it ran and found a reuse, it revoked the family, and the access sessions it would
		// have answered (in other slots) must still end: nobody can retry this for us, since
		// the family is gone. So a family that is gone now takes its sessions with it.
		uctx, cancel := undoContext(ctx)
		defer cancel()
		if n, xerr := s.rdb.Exists(uctx, s.name.family(r.FamilyID)).Result(); xerr == nil && n == 0 {
			_ = s.dropFamilySessions(uctx, r.Access.UserID, r.FamilyID)
		}
		return nil, fail(op, err)
	}
	status, _ := res[0].(string)
	switch status {
	case "rotated":
		// The user's family index lives as long as their latest refresh token; best effort,
		// like the other index TTLs.
		_ = s.rdb.Do(ctx, "PEXPIREAT", s.name.familiesOf(r.Access.UserID), ceilMilli(r.NextExpiresAt).UnixMilli(), "GT").Err()
		return &auth.RotationResult{Outcome: auth.Rotated}, nil
	case "replayed":
		undo()
		sealed, _ := res[1].(string)
		return &auth.RotationResult{Outcome: auth.Replayed, Sealed: []byte(sealed)}, nil
	case "reused":
		undo()
		uctx, cancel := undoContext(ctx)
		defer cancel()
		// The family is revoked and nobody can retry this for us: its access sessions (in
		// other slots) must end now. A failed delete is tried once more through the user's
		// index; failing again answers an error, which the session cache takes as the end
		// of the family on every replica, and the sessions' own short life bounds the rest.
		if err := s.dropSessions(uctx, r.Access.UserID, accessPairs(res[1:])); err != nil {
			if err := s.dropFamilySessions(uctx, r.Access.UserID, r.FamilyID); err != nil {
				return nil, fail(op, err)
			}
		}
		// The family is gone: its pointers and token set go too (best effort: they lead to
		// no family, and expire anyway).
		_ = s.purgeFamily(uctx, r.Access.UserID, r.FamilyID)
		return &auth.RotationResult{Outcome: auth.Reused}, nil
	case "gone":
		undo()
		return nil, notFound(op)
	}
	undo()
	return nil, fail(op, fmt.Errorf("%w: rotate answered %q", errCorrupt, status))
}

// RevokeFamily implements auth.RefreshStore. The family goes in one atomic step, after which
// none of its refresh tokens can be used; its access sessions (in other slots) are deleted
// next, then its pointers (r:), found in its token set (best effort: they lead to no family
// any more, and expire anyway).
func (s *Store) RevokeFamily(ctx context.Context, userID, id int64) error {
	const op = "revoke family"
	res, err := revoke.Run(ctx, s.rdb, []string{s.name.family(id)}, itoa(userID), s.clock.Now().UnixMilli()).Slice()
	if errors.Is(err, redis.Nil) {
		// No such family, or one that a revocation deleted before failing (or whose answer
		// was lost): the access sessions it left are found through the user's index and
		// end now, so that retrying a failed revocation finishes it.
		if err := s.dropFamilySessions(ctx, userID, id); err != nil {
			return fail(op, err)
		}
		return notFound(op)
	}
	if err != nil {
		return fail(op, err)
	}
	// Deleting the access sessions must not stop halfway because the caller gave up: the
	// family is gone already, and its sessions must follow.
	uctx, cancel := undoContext(ctx)
	defer cancel()
	if err := s.dropSessions(uctx, userID, accessPairs(res)); err != nil {
		return fail(op, err)
	}
	_ = s.purgeFamily(uctx, userID, id)
	return nil
}

// dropFamilySessions deletes the sessions of userID that belong to family fid.
func (s *Store) dropFamilySessions(ctx context.Context, userID, fid int64) error {
	sessions, err := s.SessionsOf(ctx, userID)
	if err != nil {
		return err
	}
	left := map[int64]token.Digest{}
	for _, sess := range sessions {
		if sess.FamilyID == fid {
			left[sess.ID] = sess.TokenDigest
		}
	}
	return s.dropSessions(ctx, userID, left)
}

// accessPairs reads the {id, digest, …} list the scripts answer.
func accessPairs(items []any) map[int64]token.Digest {
	out := make(map[int64]token.Digest, len(items)/2)
	for i := 0; i+1 < len(items); i += 2 {
		idText, _ := items[i].(string)
		digest, _ := items[i+1].(string)
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil || len(digest) != len(token.Digest{}) {
			continue
		}
		out[id] = token.Digest([]byte(digest))
	}
	return out
}

// dropSessions deletes sessions of userID by id and digest, records and index entries. An
// index entry left behind by a failure is stale, and SessionsOf drops it.
func (s *Store) dropSessions(ctx context.Context, userID int64, sessions map[int64]token.Digest) error {
	if len(sessions) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		fields := make([]string, 0, len(sessions))
		for id, d := range sessions {
			p.Del(ctx, s.name.token(d))
			fields = append(fields, itoa(id))
		}
		p.HDel(ctx, s.name.sessionsOf(userID), fields...)
		return nil
	})
	return err
}
