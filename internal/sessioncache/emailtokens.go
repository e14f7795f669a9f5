package sessioncache

import (
	"context"
	"errors"

	"github.com/authgraph/authgraph/internal/auth"
)

// Emailed tokens and codes are read once and never cached: they pass through the embedded
// area. Only SetEmail changes what a cached user shows.

// SetEmail implements auth.EmailTokenStore, and publishes the change of the user: a cached
// copy must not go on showing the old address.
func (s *Store) SetEmail(ctx context.Context, userID int64, email string, verified bool) (*auth.User, error) {
	u, err := s.next.SetEmail(ctx, userID, email, verified)
	if !errors.Is(err, auth.ErrNotFound) {
		s.UserChanged(ctx, userID)
	}
	return u, err
}
