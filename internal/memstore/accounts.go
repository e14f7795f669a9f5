package memstore

import (
	"context"
	"fmt"

	"github.com/authgraph/authgraph/internal/auth"
)

// CreateAccount implements auth.AccountStore.
func (s *Store) CreateAccount(_ context.Context, a *auth.Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.bySlug[a.Slug]; taken {
		return fmt.Errorf("memstore: create account: %w", auth.ErrConflict)
	}
	s.lastAccount++
	a.ID = s.lastAccount
	s.accounts[a.ID] = copyAccount(a)
	s.bySlug[a.Slug] = a.ID
	return nil
}

// Account implements auth.AccountStore.
func (s *Store) Account(_ context.Context, id int64) (*auth.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return nil, notFound("account")
	}
	return copyAccount(a), nil
}

// AccountBySlug implements auth.AccountStore.
func (s *Store) AccountBySlug(_ context.Context, slug string) (*auth.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.bySlug[slug]
	if !ok {
		return nil, notFound("account by slug")
	}
	return copyAccount(s.accounts[id]), nil
}

func copyAccount(a *auth.Account) *auth.Account {
	c := *a
	c.CreatedAt = utc(a.CreatedAt)
	return &c
}

// LastAccountID implements auth.AccountStore.
func (s *Store) LastAccountID(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastAccount, nil
}

// UpdateAccount implements auth.AccountStore.
func (s *Store) UpdateAccount(_ context.Context, id int64, edit func(*auth.Account) error) (*auth.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return nil, notFound("update account")
	}
	c := copyAccount(a)
	if err := edit(c); err != nil {
		return nil, err
	}
	c.ID, c.Slug = a.ID, a.Slug // the slug index keys on it
	s.accounts[id] = copyAccount(c)
	return copyAccount(c), nil
}

// DeleteAccount implements auth.AccountStore.
func (s *Store) DeleteAccount(_ context.Context, id int64) (*auth.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return nil, notFound("delete account")
	}
	delete(s.accounts, id)
	if s.bySlug[a.Slug] == id {
		delete(s.bySlug, a.Slug)
	}
	return copyAccount(a), nil
}
