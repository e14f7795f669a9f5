package redisstore

import (
	"context"
	"fmt"
	"strconv"

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
