package sessioncache

import (
	"context"

	"github.com/authgraph/authgraph/internal/auth"
)

// AccountsByID passes through: accounts are not cached.
func (s *Store) AccountsByID(ctx context.Context, ids []int64) (map[int64]*auth.Account, error) {
	return s.next.AccountsByID(ctx, ids)
}

// UsersWithTOTP passes through: TOTP state is not cached.
func (s *Store) UsersWithTOTP(ctx context.Context, userIDs []int64) (map[int64]bool, error) {
	return s.next.UsersWithTOTP(ctx, userIDs)
}
