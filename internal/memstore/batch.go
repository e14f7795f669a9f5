package memstore

import (
	"context"

	"github.com/authgraph/authgraph/internal/auth"
)

// UsersByID implements auth.BatchReader.
func (s *Store) UsersByID(_ context.Context, ids []int64) (map[int64]*auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	found := make(map[int64]*auth.User, len(ids))
	for _, id := range ids {
		if u, ok := s.users[id]; ok {
			found[id] = copyUser(u)
		}
	}
	return found, nil
}

// AccountsByID implements auth.BatchReader.
func (s *Store) AccountsByID(_ context.Context, ids []int64) (map[int64]*auth.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	found := make(map[int64]*auth.Account, len(ids))
	for _, id := range ids {
		if a, ok := s.accounts[id]; ok {
			found[id] = copyAccount(a)
		}
	}
	return found, nil
}

// UsersWithTOTP implements auth.BatchReader.
func (s *Store) UsersWithTOTP(_ context.Context, userIDs []int64) (map[int64]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	on := make(map[int64]bool)
	for _, id := range userIDs {
		if _, ok := s.totp[id]; ok {
			on[id] = true
		}
	}
	return on, nil
}
