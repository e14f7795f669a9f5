package memstore

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/authgraph/authgraph/internal/auth"
)

// CreateUser implements auth.UserStore.
func (s *Store) CreateUser(_ context.Context, u *auth.User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.byUsername[u.Username][u.AccountID]; taken {
		return fmt.Errorf("memstore: create user: %w", auth.ErrConflict)
	}
	s.lastUser++
	u.ID = s.lastUser
	u.Email, u.EmailVerified = "", false // SetEmail sets it, with its claim
	s.users[u.ID] = copyUser(u)
	if s.byUsername[u.Username] == nil {
		s.byUsername[u.Username] = map[int64]int64{}
	}
	s.byUsername[u.Username][u.AccountID] = u.ID
	return nil
}

// User implements auth.UserStore.
func (s *Store) User(_ context.Context, id int64) (*auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return nil, notFound("user")
	}
	return copyUser(u), nil
}

// UserByUsername implements auth.UserStore.
func (s *Store) UserByUsername(_ context.Context, accountID int64, username string) (*auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byUsername[username][accountID]
	if !ok {
		return nil, notFound("user by username")
	}
	return copyUser(s.users[id]), nil
}

// AccountsWithUsername implements auth.UserStore.
func (s *Store) AccountsWithUsername(_ context.Context, username string) ([]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.byUsername[username])), nil
}

// SetPasswordHash implements auth.UserStore.
func (s *Store) SetPasswordHash(_ context.Context, id int64, hash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return notFound("set password hash")
	}
	u.PasswordHash = hash
	return nil
}

func copyUser(u *auth.User) *auth.User {
	c := *u
	c.CreatedAt = utc(u.CreatedAt)
	return &c
}

// RenameUser implements auth.UserStore.
func (s *Store) RenameUser(_ context.Context, id int64, username string) (*auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return nil, notFound("rename user")
	}
	if u.Username == username {
		return copyUser(u), nil
	}
	if _, taken := s.byUsername[username][u.AccountID]; taken {
		return nil, fmt.Errorf("memstore: rename user: %w", auth.ErrConflict)
	}
	if byAccount := s.byUsername[u.Username]; byAccount[u.AccountID] == id {
		delete(byAccount, u.AccountID)
		if len(byAccount) == 0 {
			delete(s.byUsername, u.Username)
		}
	}
	if s.byUsername[username] == nil {
		s.byUsername[username] = map[int64]int64{}
	}
	s.byUsername[username][u.AccountID] = id
	u.Username = username
	return copyUser(u), nil
}
