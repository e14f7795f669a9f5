package sessioncache

import (
	"context"
	"errors"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// Emailed tokens and codes are read once and never cached: they pass through.

// CreateEmailToken implements auth.EmailTokenStore.
func (s *Store) CreateEmailToken(ctx context.Context, t *auth.EmailToken) error {
	return s.next.CreateEmailToken(ctx, t)
}

// ConsumeEmailToken implements auth.EmailTokenStore.
func (s *Store) ConsumeEmailToken(ctx context.Context, p auth.TokenPurpose, d token.Digest) (*auth.EmailToken, error) {
	return s.next.ConsumeEmailToken(ctx, p, d)
}

// EmailToken implements auth.EmailTokenStore.
func (s *Store) EmailToken(ctx context.Context, p auth.TokenPurpose, d token.Digest) (*auth.EmailToken, error) {
	return s.next.EmailToken(ctx, p, d)
}

// SetEmailCode implements auth.EmailTokenStore.
func (s *Store) SetEmailCode(ctx context.Context, userID int64, p auth.TokenPurpose, d token.Digest, expiresAt time.Time) error {
	return s.next.SetEmailCode(ctx, userID, p, d, expiresAt)
}

// ConsumeEmailCode implements auth.EmailTokenStore.
func (s *Store) ConsumeEmailCode(ctx context.Context, userID int64, p auth.TokenPurpose, d token.Digest, maxTries int) error {
	return s.next.ConsumeEmailCode(ctx, userID, p, d, maxTries)
}

// UserByEmail implements auth.EmailTokenStore. It asks the store: the cache keeps users by
// id only.
func (s *Store) UserByEmail(ctx context.Context, accountID int64, email string) (*auth.User, error) {
	return s.next.UserByEmail(ctx, accountID, email)
}

// SetEmail implements auth.EmailTokenStore, and publishes the change of the user: a cached
// copy must not go on showing the old address.
func (s *Store) SetEmail(ctx context.Context, userID int64, email string, verified bool) (*auth.User, error) {
	u, err := s.next.SetEmail(ctx, userID, email, verified)
	if !errors.Is(err, auth.ErrNotFound) {
		s.UserChanged(ctx, userID)
	}
	return u, err
}
