package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// Emailed tokens, short codes and the email index. Keys (p the prefix):
//
//	p et:<purpose>:<digest>      an emailed token, under the 32 raw bytes of its SHA-256
//	                             digest: compact JSON {"u","x","e"} (user id, what else it
//	                             binds, expiry in Unix ns); PEXPIREAT its expiry. GETDEL
//	                             consumes it: one command, so of concurrent consumers exactly
//	                             one gets it, and the purpose in the name keeps a token of one
//	                             purpose from being found under another
//	p {u<uid>}:ec:<purpose>      HASH d (the code's 32-byte digest), e (expiry, nanos20), n
//	                             (wrong tries) of a short emailed code; PEXPIREAT e. Checked
//	                             and counted by one script (consumeCode)
//	p {a<aid>}:email             HASH normalized email → user id of an account: HSETNX claims
//	                             an address, so it is the lock that makes emails unique per
//	                             account, as p un:<username> is for usernames
//
// The user's record (p u:<id>, "e" and "ev") is the truth; a claim whose user's record does
// not carry the address (a SetEmail under way, or one that died half-way) finds no one.

func (n names) emailToken(p auth.TokenPurpose, d token.Digest) string {
	return n.prefix + "et:" + string(p) + ":" + string(d[:])
}

func (n names) emailCode(userID int64, p auth.TokenPurpose) string {
	return n.prefix + "{u" + itoa(userID) + "}:ec:" + string(p)
}

func (n names) emails(accountID int64) string { return n.prefix + "{a" + itoa(accountID) + "}:email" }

type emailTokenRecord struct {
	UserID  int64  `json:"u"`
	Extra   string `json:"x,omitempty"`
	Expires int64  `json:"e"` // Unix ns: the key's own expiry is rounded up to the ms
}

// CreateEmailToken implements auth.EmailTokenStore.
func (s *Store) CreateEmailToken(ctx context.Context, t *auth.EmailToken) error {
	const op = "create email token"
	if !s.clock.Now().Before(t.ExpiresAt) {
		return nil // over already: there is nothing to keep
	}
	exp := ceilMilli(t.ExpiresAt)
	b, err := json.Marshal(emailTokenRecord{t.UserID, t.Extra, t.ExpiresAt.UnixNano()})
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	err = s.rdb.SetArgs(ctx, s.name.emailToken(t.Purpose, t.Digest), b, redis.SetArgs{Mode: "NX", ExpireAt: exp}).Err()
	if errors.Is(err, redis.Nil) {
		return conflict(op)
	}
	if err != nil {
		return fail(op, err)
	}
	return nil
}

// ConsumeEmailToken implements auth.EmailTokenStore with one GETDEL.
func (s *Store) ConsumeEmailToken(ctx context.Context, p auth.TokenPurpose, d token.Digest) (*auth.EmailToken, error) {
	const op = "consume email token"
	b, err := s.rdb.GetDel(ctx, s.name.emailToken(p, d)).Bytes()
	if err != nil {
		return nil, fail(op, err)
	}
	return s.decodeEmailToken(op, p, d, b)
}

// EmailToken implements auth.EmailTokenStore.
func (s *Store) EmailToken(ctx context.Context, p auth.TokenPurpose, d token.Digest) (*auth.EmailToken, error) {
	const op = "email token"
	b, err := s.rdb.Get(ctx, s.name.emailToken(p, d)).Bytes()
	if err != nil {
		return nil, fail(op, err)
	}
	return s.decodeEmailToken(op, p, d, b)
}

// decodeEmailToken answers the token stored as b, or ErrNotFound if it has expired.
func (s *Store) decodeEmailToken(op string, p auth.TokenPurpose, d token.Digest, b []byte) (*auth.EmailToken, error) {
	var r emailTokenRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fail(op, fmt.Errorf("%w: email token: %w", errCorrupt, err))
	}
	exp := time.Unix(0, r.Expires).UTC()
	if !s.clock.Now().Before(exp) {
		return nil, notFound(op)
	}
	return &auth.EmailToken{Digest: d, Purpose: p, UserID: r.UserID, Extra: r.Extra, ExpiresAt: exp}, nil
}

// SetEmailCode implements auth.EmailTokenStore: the code and its expiry replace the old ones
// and reset the tries, in one MULTI.
func (s *Store) SetEmailCode(ctx context.Context, userID int64, p auth.TokenPurpose, d token.Digest, expiresAt time.Time) error {
	const op = "set email code"
	key := s.name.emailCode(userID, p)
	exp := ceilMilli(expiresAt)
	_, err := s.rdb.TxPipelined(ctx, func(pl redis.Pipeliner) error {
		pl.Del(ctx, key)
		pl.HSet(ctx, key, "d", d[:], "e", nanos20(expiresAt.UnixNano()), "n", 0)
		pl.PExpireAt(ctx, key, exp)
		return nil
	})
	if err != nil {
		return fail(op, err)
	}
	return nil
}

// consumeCode checks a short code: KEYS[1] the code's hash, ARGV[1] the digest tried, ARGV[2]
// now (nanos20, from the store's clock), ARGV[3] the tries allowed. It answers 1 and deletes
// the code if it is the one and has not expired; else 0, deleting an expired code, and
// counting a wrong try, the last allowed one deleting the code.
var consumeCode = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'd', 'e')
if not v[1] then return 0 end
if v[2] <= ARGV[2] then
	redis.call('DEL', KEYS[1])
	return 0
end
if v[1] == ARGV[1] then
	redis.call('DEL', KEYS[1])
	return 1
end
if redis.call('HINCRBY', KEYS[1], 'n', 1) >= tonumber(ARGV[3]) then
	redis.call('DEL', KEYS[1])
end
return 0
`)

// ConsumeEmailCode implements auth.EmailTokenStore with one script (consumeCode).
func (s *Store) ConsumeEmailCode(ctx context.Context, userID int64, p auth.TokenPurpose, d token.Digest, maxTries int) error {
	const op = "consume email code"
	ok, err := consumeCode.Run(ctx, s.rdb, []string{s.name.emailCode(userID, p)},
		d[:], nanos20(s.clock.Now().UnixNano()), maxTries).Int()
	if err != nil {
		return fail(op, err)
	}
	if ok != 1 {
		return notFound(op)
	}
	return nil
}

// UserByEmail implements auth.EmailTokenStore.
func (s *Store) UserByEmail(ctx context.Context, accountID int64, email string) (*auth.User, error) {
	const op = "user by email"
	if email == "" {
		return nil, notFound(op)
	}
	v, err := s.rdb.HGet(ctx, s.name.emails(accountID), email).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fail(op, fmt.Errorf("%w: email claim", errCorrupt))
	}
	u, err := s.User(ctx, id)
	if err != nil {
		return nil, err
	}
	// A claim is taken before the record carries it and released after the record drops
	// it: only a record that carries the address makes it the user's.
	if u.Email != email || u.AccountID != accountID {
		return nil, notFound(op)
	}
	return u, nil
}

// SetEmail implements auth.EmailTokenStore: claim the new address (HSETNX), rewrite the
// record under WATCH, release the old address. A claim left behind by a failure finds no
// one (see UserByEmail) but keeps the address taken until HDEL p {a<aid>}:email <email>, as
// a username claim does.
func (s *Store) SetEmail(ctx context.Context, userID int64, email string, verified bool) (*auth.User, error) {
	const op = "set email"
	u, err := s.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	claimed := false
	if email != "" {
		claimed, err = s.rdb.HSetNX(ctx, s.name.emails(u.AccountID), email, userID).Result()
		if err != nil {
			return nil, fail(op, err)
		}
		if !claimed {
			holder, err := s.rdb.HGet(ctx, s.name.emails(u.AccountID), email).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return nil, fail(op, err)
			}
			if holder != itoa(userID) {
				return nil, conflict(op)
			}
		}
	}
	var out *auth.User
	var old string
	err = s.update(ctx, op, s.name.user(userID), func(b []byte) ([]byte, error) {
		cur, err := decodeUser(userID, b)
		if err != nil {
			return nil, err
		}
		// Read again on every retry: what is released is what the record held when the
		// write went through.
		old = cur.Email
		cur.Email, cur.EmailVerified = email, verified && email != ""
		out = cur
		return encodeUser(cur)
	})
	if err != nil {
		if claimed {
			uctx, cancel := undoContext(ctx)
			defer cancel()
			_ = s.releaseEmail(uctx, u.AccountID, email, userID)
		}
		return nil, err
	}
	if old != "" && old != email {
		if err := s.releaseEmail(ctx, u.AccountID, old, userID); err != nil {
			// The change is made; only the old address stays taken by no one.
			return nil, fail(op, err)
		}
	}
	return out, nil
}

// releaseEmail frees email in an account if userID still holds it.
func (s *Store) releaseEmail(ctx context.Context, accountID int64, email string, userID int64) error {
	if email == "" {
		return nil
	}
	return hdelIfEqual.Run(ctx, s.rdb, []string{s.name.emails(accountID)}, email, userID).Err()
}
