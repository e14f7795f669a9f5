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
	flows map[token.Digest]*auth.AuthFlow
	codes map[token.Digest]*auth.AppCode
	// sweepAt is the number of stored flows at which expired ones are swept out: flows
	// nobody finishes must not pile up.
	sweepAt int
	// codeSweepAt is sweepAt for codes.
	codeSweepAt int
}

type identityKey struct{ provider, subject string }

func (e *identityState) init() {
	if e.links == nil {
		e.links = map[identityKey]*auth.LinkedIdentity{}
		e.flows = map[token.Digest]*auth.AuthFlow{}
		e.codes = map[token.Digest]*auth.AppCode{}
	}
}

// CreateAuthFlow implements auth.IdentityStore.
func (s *Store) CreateAuthFlow(_ context.Context, f *auth.AuthFlow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &s.identities
	e.init()
	now := s.clock.Now()
	if len(e.flows) >= e.sweepAt {
		for d, old := range e.flows {
			if !now.Before(old.ExpiresAt) {
				delete(e.flows, d)
			}
		}
		e.sweepAt = 2*len(e.flows) + 64
	}
	if old, ok := e.flows[f.StateDigest]; ok && now.Before(old.ExpiresAt) {
		return fmt.Errorf("memstore: create auth flow: %w", auth.ErrConflict)
	}
	c := *f
	c.ExpiresAt = utc(f.ExpiresAt)
	e.flows[f.StateDigest] = &c
	return nil
}

// ConsumeAuthFlow implements auth.IdentityStore.
func (s *Store) ConsumeAuthFlow(_ context.Context, d token.Digest) (*auth.AuthFlow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identities.init()
	f, ok := s.identities.flows[d]
	if !ok {
		return nil, notFound("consume auth flow")
	}
	delete(s.identities.flows, d)
	if !s.clock.Now().Before(f.ExpiresAt) {
		return nil, notFound("consume auth flow")
	}
	c := *f
	return &c, nil
}

// CreateAppCode implements auth.IdentityStore.
func (s *Store) CreateAppCode(_ context.Context, c *auth.AppCode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &s.identities
	e.init()
	now := s.clock.Now()
	if len(e.codes) >= e.codeSweepAt {
		for d, old := range e.codes {
			if !now.Before(old.ExpiresAt) {
				delete(e.codes, d)
			}
		}
		e.codeSweepAt = 2*len(e.codes) + 64
	}
	if old, ok := e.codes[c.Digest]; ok && now.Before(old.ExpiresAt) {
		return fmt.Errorf("memstore: create app code: %w", auth.ErrConflict)
	}
	cp := *c
	cp.ExpiresAt = utc(c.ExpiresAt)
	e.codes[c.Digest] = &cp
	return nil
}

// ConsumeAppCode implements auth.IdentityStore.
func (s *Store) ConsumeAppCode(_ context.Context, d token.Digest) (*auth.AppCode, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identities.init()
	c, ok := s.identities.codes[d]
	if !ok {
		return nil, notFound("consume app code")
	}
	delete(s.identities.codes, d)
	if !s.clock.Now().Before(c.ExpiresAt) {
		return nil, notFound("consume app code")
	}
	cp := *c
	return &cp, nil
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
