package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
)

// CreateUser implements auth.UserStore. An id is used up even when the username is taken.
func (s *Store) CreateUser(ctx context.Context, u *auth.User) error {
	const op = "create user"
	u.Email, u.EmailVerified = "", false // SetEmail sets it, with its claim
	rec, err := encodeUser(u)
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	id, err := s.rdb.Incr(ctx, s.name.seq("u")).Result()
	if err != nil {
		return fail(op, err)
	}
	// The username's hash maps account id → user id; HSETNX claims the username in the
	// account, so it is the lock that makes usernames unique per account.
	claim, field := s.name.username(u.Username), itoa(u.AccountID)
	ok, err := s.rdb.HSetNX(ctx, claim, field, id).Result()
	if err != nil {
		return fail(op, err)
	}
	if !ok {
		return conflict(op)
	}
	if err := s.rdb.Set(ctx, s.name.user(id), rec, 0).Err(); err != nil {
		// Release the claim, or the username would stay taken by a user that does not exist.
		uctx, cancel := undoContext(ctx)
		defer cancel()
		_ = hdelIfEqual.Run(uctx, s.rdb, []string{claim}, field, id).Err()
		return fail(op, err)
	}
	// Record first, index second (see doc.go): the index of users is only for listing them.
	if err := s.rdb.ZAdd(ctx, s.name.users(), redis.Z{Score: float64(id), Member: id}).Err(); err != nil {
		uctx, cancel := undoContext(ctx)
		defer cancel()
		_ = s.rdb.Del(uctx, s.name.user(id)).Err()
		_ = hdelIfEqual.Run(uctx, s.rdb, []string{claim}, field, id).Err()
		return fail(op, err)
	}
	u.ID = id
	return nil
}

// User implements auth.UserStore.
func (s *Store) User(ctx context.Context, id int64) (*auth.User, error) {
	const op = "user"
	b, err := s.rdb.Get(ctx, s.name.user(id)).Bytes()
	if err != nil {
		return nil, fail(op, err)
	}
	u, err := decodeUser(id, b)
	if err != nil {
		return nil, fail(op, err)
	}
	return u, nil
}

// UserByUsername implements auth.UserStore.
func (s *Store) UserByUsername(ctx context.Context, accountID int64, username string) (*auth.User, error) {
	const op = "user by username"
	v, err := s.rdb.HGet(ctx, s.name.username(username), itoa(accountID)).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fail(op, fmt.Errorf("%w: username claim", errCorrupt))
	}
	// A claim whose user record is missing (a CreateUser under way, or one that died between
	// its two writes) is no user: User answers ErrNotFound. Nor is one whose record carries
	// another name: a RenameUser claims the new name before the record takes it, and
	// releases the old one after the record has dropped it.
	u, err := s.User(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.Username != username || u.AccountID != accountID {
		return nil, notFound(op)
	}
	return u, nil
}

// AccountsWithUsername implements auth.UserStore.
func (s *Store) AccountsWithUsername(ctx context.Context, username string) ([]int64, error) {
	const op = "accounts with username"
	fields, err := s.rdb.HKeys(ctx, s.name.username(username)).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	ids := make([]int64, 0, len(fields))
	for _, f := range fields {
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fail(op, fmt.Errorf("%w: username claim", errCorrupt))
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// SetPasswordHash implements auth.UserStore.
func (s *Store) SetPasswordHash(ctx context.Context, id int64, hash string) error {
	return s.update(ctx, "set password hash", s.name.user(id), func(b []byte) ([]byte, error) {
		u, err := decodeUser(id, b)
		if err != nil {
			return nil, err
		}
		u.PasswordHash = hash
		return encodeUser(u)
	})
}

// RenameUser implements auth.UserStore, the way SetEmail moves an email claim: claim the new
// name in the account (HSETNX on un:<username>), rewrite the record under WATCH, release the
// old name (if this user still holds it). The claims and the record lie in different slots,
// so no one script or transaction may span them on a Cluster; the order is what keeps a name
// from being held by two users: the HSETNX decides which of racing renames (or a CreateUser)
// gets a name, and a record never carries a name its user has not claimed.
func (s *Store) RenameUser(ctx context.Context, id int64, username string) (*auth.User, error) {
	const op = "rename user"
	u, err := s.User(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.Username == username {
		return u, nil
	}
	claim, field := s.name.username(username), itoa(u.AccountID)
	ok, err := s.rdb.HSetNX(ctx, claim, field, id).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	if !ok {
		return nil, conflict(op)
	}
	var out *auth.User
	var old string
	err = s.update(ctx, op, s.name.user(id), func(b []byte) ([]byte, error) {
		cur, err := decodeUser(id, b)
		if err != nil {
			return nil, err
		}
		// Read again on every retry: what is released is what the record held when the
		// write went through.
		old = cur.Username
		cur.Username = username
		out = cur
		return encodeUser(cur)
	})
	if err != nil {
		// Release the new claim, or the name would stay taken by a user who does not carry it.
		uctx, cancel := undoContext(ctx)
		defer cancel()
		_ = hdelIfEqual.Run(uctx, s.rdb, []string{claim}, field, id).Err()
		return nil, err
	}
	if old != username {
		if err := hdelIfEqual.Run(ctx, s.rdb, []string{s.name.username(old)}, field, id).Err(); err != nil {
			// The rename is made; only the old name stays taken by no one.
			return nil, fail(op, err)
		}
	}
	return out, nil
}
