package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// identityState keeps linked identities, authorization code flows and app codes. Its maps are made on
// first use, under s.mu.
type identityState struct {
	links map[identityKey]*auth.LinkedIdentity
	flows onceSet[auth.AuthFlow]
	codes onceSet[auth.AppCode]
}

type identityKey struct{ provider, subject string }

func (e *identityState) init() {
	if e.links == nil {
		e.links = map[identityKey]*auth.LinkedIdentity{}
	}
}

// CreateAuthFlow implements auth.IdentityStore.
func (s *Store) CreateAuthFlow(_ context.Context, f *auth.AuthFlow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *f
	c.ExpiresAt = utc(f.ExpiresAt)
	if !s.identities.flows.put(f.StateDigest, c, c.ExpiresAt, s.clock.Now()) {
		return fmt.Errorf("memstore: create auth flow: %w", auth.ErrConflict)
	}
	return nil
}

// ConsumeAuthFlow implements auth.IdentityStore.
func (s *Store) ConsumeAuthFlow(_ context.Context, d token.Digest) (*auth.AuthFlow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.identities.flows.take(d, s.clock.Now())
	if !ok {
		return nil, notFound("consume auth flow")
	}
	return &f, nil
}

// CreateAppCode implements auth.IdentityStore.
func (s *Store) CreateAppCode(_ context.Context, c *auth.AppCode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := *c
	cp.ExpiresAt = utc(c.ExpiresAt)
	if !s.identities.codes.put(c.Digest, cp, cp.ExpiresAt, s.clock.Now()) {
		return fmt.Errorf("memstore: create app code: %w", auth.ErrConflict)
	}
	return nil
}

// ConsumeAppCode implements auth.IdentityStore.
func (s *Store) ConsumeAppCode(_ context.Context, d token.Digest) (*auth.AppCode, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.identities.codes.take(d, s.clock.Now())
	if !ok {
		return nil, notFound("consume app code")
	}
	return &c, nil
}

// LinkIdentity implements auth.IdentityStore.
func (s *Store) LinkIdentity(_ context.Context, l *auth.LinkedIdentity) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identities.init()
	if _, ok := s.users[l.UserID]; !ok {
		return notFound("link identity")
	}
	k := identityKey{l.Provider, l.Subject}
	if _, taken := s.identities.links[k]; taken {
		return fmt.Errorf("memstore: link identity: %w", auth.ErrConflict)
	}
	c := *l
	c.LinkedAt = utc(l.LinkedAt)
	s.identities.links[k] = &c
	return nil
}

// IdentityBySubject implements auth.IdentityStore.
func (s *Store) IdentityBySubject(_ context.Context, provider, subject string) (*auth.LinkedIdentity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.identities.links[identityKey{provider, subject}]
	if !ok {
		return nil, notFound("identity by subject")
	}
	c := *l
	return &c, nil
}

// IdentitiesOf implements auth.IdentityStore. A scan: the embedded store holds few links.
func (s *Store) IdentitiesOf(_ context.Context, userID int64) ([]*auth.LinkedIdentity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []*auth.LinkedIdentity{}
	for _, l := range s.identities.links {
		if l.UserID == userID {
			c := *l
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *auth.LinkedIdentity) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Subject, b.Subject))
	})
	return out, nil
}

// UnlinkIdentity implements auth.IdentityStore.
func (s *Store) UnlinkIdentity(_ context.Context, userID int64, provider, subject string) (*auth.LinkedIdentity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := identityKey{provider, subject}
	l, ok := s.identities.links[k]
	if !ok || l.UserID != userID {
		return nil, notFound("unlink identity")
	}
	delete(s.identities.links, k)
	return l, nil
}

// dropIdentitiesOf removes a deleted user's links. s.mu must be held.
func (s *Store) dropIdentitiesOf(userID int64) {
	for k, l := range s.identities.links {
		if l.UserID == userID {
			delete(s.identities.links, k)
		}
	}
}
