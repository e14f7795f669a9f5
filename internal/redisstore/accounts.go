package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
)

// CreateAccount implements auth.AccountStore, as CreateUser does: INCR the id, claim the slug
// with SET NX (ErrConflict if taken), write the record, and release the claim if that fails.
func (s *Store) CreateAccount(ctx context.Context, a *auth.Account) error {
	const op = "create account"
	rec, err := encodeAccount(a)
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	id, err := s.rdb.Incr(ctx, s.name.seq("a")).Result()
	if err != nil {
		return fail(op, err)
	}
	claim := s.name.slug(a.Slug)
	ok, err := s.rdb.SetNX(ctx, claim, id, 0).Result()
	if err != nil {
		return fail(op, err)
	}
	if !ok {
		return conflict(op)
	}
	if err := s.rdb.Set(ctx, s.name.account(id), rec, 0).Err(); err != nil {
		uctx, cancel := undoContext(ctx)
		defer cancel()
		_ = deleteIfEqual.Run(uctx, s.rdb, []string{claim}, id).Err()
		return fail(op, err)
	}
	a.ID = id
	return nil
}

// Account implements auth.AccountStore.
func (s *Store) Account(ctx context.Context, id int64) (*auth.Account, error) {
	const op = "account"
	b, err := s.rdb.Get(ctx, s.name.account(id)).Bytes()
	if err != nil {
		return nil, fail(op, err)
	}
	a, err := decodeAccount(id, b)
	if err != nil {
		return nil, fail(op, err)
	}
	return a, nil
}

// AccountBySlug implements auth.AccountStore. A claim whose record is missing (a
// CreateAccount under way, or one that died between its writes) is no account.
func (s *Store) AccountBySlug(ctx context.Context, slug string) (*auth.Account, error) {
	const op = "account by slug"
	v, err := s.rdb.Get(ctx, s.name.slug(slug)).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fail(op, fmt.Errorf("%w: slug claim", errCorrupt))
	}
	return s.Account(ctx, id)
}

// LastAccountID implements auth.AccountStore: the counter CreateAccount INCRs.
func (s *Store) LastAccountID(ctx context.Context) (int64, error) {
	const op = "last account id"
	n, err := s.rdb.Get(ctx, s.name.seq("a")).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fail(op, err)
	}
	return n, nil
}

// UpdateAccount implements auth.AccountStore: the record is rewritten under WATCH.
func (s *Store) UpdateAccount(ctx context.Context, id int64, edit func(*auth.Account) error) (*auth.Account, error) {
	var out *auth.Account
	err := s.update(ctx, "update account", s.name.account(id), func(b []byte) ([]byte, error) {
		a, err := decodeAccount(id, b)
		if err != nil {
			return nil, err
		}
		slug := a.Slug
		if err := edit(a); err != nil {
			return nil, editError{err}
		}
		a.ID, a.Slug = id, slug // the slug claim keys on it: it cannot change here
		out = a
		return encodeAccount(a)
	})
	if err != nil {
		return nil, passEditError(err)
	}
	return out, nil
}

// DeleteAccount implements auth.AccountStore: free the slug if this account holds it, then
// DEL the record; the call whose DEL removed it answers the account. The slug goes first, so
// that a failure between the two leaves an account that can be deleted again, never a slug
// claimed by no account.
func (s *Store) DeleteAccount(ctx context.Context, id int64) (*auth.Account, error) {
	const op = "delete account"
	a, err := s.Account(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := deleteIfEqual.Run(ctx, s.rdb, []string{s.name.slug(a.Slug)}, id).Err(); err != nil {
		return nil, fail(op, err)
	}
	n, err := s.rdb.Del(ctx, s.name.account(id)).Result()
	if err != nil {
		return nil, fail(op, err)
	}
	if n == 0 {
		return nil, notFound(op)
	}
	return a, nil
}
