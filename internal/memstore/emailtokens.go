package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// emailState keeps emailed tokens, short codes and the email index. Its maps are made on
// first use, under s.mu.
type emailState struct {
	tokens  map[tokenKey]*auth.EmailToken
	codes   map[codeKey]*emailCode
	byEmail map[int64]map[string]int64 // account id → email → user id
	// sweepAt is the number of stored tokens and codes at which expired ones are swept out:
	// tokens nobody consumes must not pile up.
	sweepAt int
}

type tokenKey struct {
	purpose auth.TokenPurpose
	digest  token.Digest
}

type codeKey struct {
	userID  int64
	purpose auth.TokenPurpose
}

type emailCode struct {
	digest    token.Digest
	expiresAt int64 // Unix nanoseconds
	tries     int
}

func (e *emailState) init() {
	if e.tokens == nil {
		e.tokens = map[tokenKey]*auth.EmailToken{}
		e.codes = map[codeKey]*emailCode{}
		e.byEmail = map[int64]map[string]int64{}
	}
}

// sweepEmail drops expired tokens and codes once there are sweepAt of them, then sets the
// next sweep at twice the live number: O(1) per write on average. s.mu must be held.
func (s *Store) sweepEmail() {
	e := &s.email
	if len(e.tokens)+len(e.codes) < e.sweepAt {
		return
	}
	now := s.clock.Now()
	for k, t := range e.tokens {
		if !now.Before(t.ExpiresAt) {
			delete(e.tokens, k)
		}
	}
	for k, c := range e.codes {
		if now.UnixNano() >= c.expiresAt {
			delete(e.codes, k)
		}
	}
	e.sweepAt = 2*(len(e.tokens)+len(e.codes)) + 64
}

// CreateEmailToken implements auth.EmailTokenStore.
func (s *Store) CreateEmailToken(_ context.Context, t *auth.EmailToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.email.init()
	s.sweepEmail()
	k := tokenKey{t.Purpose, t.Digest}
	if old, ok := s.email.tokens[k]; ok && s.clock.Now().Before(old.ExpiresAt) {
		return fmt.Errorf("memstore: create email token: %w", auth.ErrConflict)
	}
	c := *t
	c.ExpiresAt = utc(t.ExpiresAt)
	s.email.tokens[k] = &c
	return nil
}

// ConsumeEmailToken implements auth.EmailTokenStore.
func (s *Store) ConsumeEmailToken(_ context.Context, p auth.TokenPurpose, d token.Digest) (*auth.EmailToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.email.init()
	k := tokenKey{p, d}
	t, ok := s.email.tokens[k]
	if !ok {
		return nil, notFound("consume email token")
	}
	delete(s.email.tokens, k)
	if !s.clock.Now().Before(t.ExpiresAt) {
		return nil, notFound("consume email token")
	}
	c := *t
	return &c, nil
}

// EmailToken implements auth.EmailTokenStore.
func (s *Store) EmailToken(_ context.Context, p auth.TokenPurpose, d token.Digest) (*auth.EmailToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.email.tokens[tokenKey{p, d}]
	if !ok || !s.clock.Now().Before(t.ExpiresAt) {
		return nil, notFound("email token")
	}
	c := *t
	return &c, nil
}

// SetEmailCode implements auth.EmailTokenStore.
func (s *Store) SetEmailCode(_ context.Context, userID int64, p auth.TokenPurpose, d token.Digest, expiresAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.email.init()
	s.sweepEmail()
	s.email.codes[codeKey{userID, p}] = &emailCode{digest: d, expiresAt: expiresAt.UnixNano()}
	return nil
}

// ConsumeEmailCode implements auth.EmailTokenStore.
func (s *Store) ConsumeEmailCode(_ context.Context, userID int64, p auth.TokenPurpose, d token.Digest, maxTries int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.email.init()
	k := codeKey{userID, p}
	c, ok := s.email.codes[k]
	switch {
	case !ok:
		return notFound("consume email code")
	case s.clock.Now().UnixNano() >= c.expiresAt:
		delete(s.email.codes, k)
		return notFound("consume email code")
	case c.digest == d:
		delete(s.email.codes, k)
		return nil
	}
	if c.tries++; c.tries >= maxTries {
		delete(s.email.codes, k)
	}
	return notFound("consume email code")
}

// UserByEmail implements auth.EmailTokenStore.
func (s *Store) UserByEmail(_ context.Context, accountID int64, email string) (*auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.email.init()
	id, ok := s.email.byEmail[accountID][email]
	if !ok || email == "" {
		return nil, notFound("user by email")
	}
	return copyUser(s.users[id]), nil
}

// SetEmail implements auth.EmailTokenStore.
func (s *Store) SetEmail(_ context.Context, userID int64, email string, verified bool) (*auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.email.init()
	u, ok := s.users[userID]
	if !ok {
		return nil, notFound("set email")
	}
	index := s.email.byEmail[u.AccountID]
	if email != "" {
		if holder, taken := index[email]; taken && holder != userID {
			return nil, fmt.Errorf("memstore: set email: %w", auth.ErrConflict)
		}
		if index == nil {
			index = map[string]int64{}
			s.email.byEmail[u.AccountID] = index
		}
		index[email] = userID
	}
	if u.Email != "" && u.Email != email {
		s.releaseEmail(u)
	}
	u.Email, u.EmailVerified = email, verified && email != ""
	return copyUser(u), nil
}

// releaseEmail frees u's address in u's account, if u holds it. s.mu must be held.
func (s *Store) releaseEmail(u *auth.User) {
	if index := s.email.byEmail[u.AccountID]; index != nil && index[u.Email] == u.ID {
		delete(index, u.Email)
		if len(index) == 0 {
			delete(s.email.byEmail, u.AccountID)
		}
	}
}
