package memstore

import (
	"context"
	"fmt"

	"github.com/authgraph/authgraph/internal/auth"
)

// CreateUser implements auth.UserStore.
func (s *Store) CreateUser(_ context.Context, u *auth.User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.byUsername[u.Username]; taken {
		return fmt.Errorf("memstore: create user: %w", auth.ErrConflict)
	}
	s.lastUser++
	u.ID = s.lastUser
	s.users[u.ID] = copyUser(u)
	s.byUsername[u.Username] = u.ID
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
func (s *Store) UserByUsername(_ context.Context, username string) (*auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byUsername[username]
	if !ok {
		return nil, notFound("user by username")
	}
	return copyUser(s.users[id]), nil
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
