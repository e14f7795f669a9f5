package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/authgraph/authgraph/internal/auth"
)

// passkeyState holds the passkeys (by id, and by credential id over all users) and the
// ceremonies under way (by challenge), behind the store's one mutex.
type passkeyState struct {
	last         int64
	byID         map[int64]*auth.Passkey
	byCredential map[string]int64 // credential id (as a string of its bytes) → passkey id
	ceremonies   map[string]*auth.PasskeyCeremony
}

func newPasskeyState() passkeyState {
	return passkeyState{byID: map[int64]*auth.Passkey{}, byCredential: map[string]int64{}, ceremonies: map[string]*auth.PasskeyCeremony{}}
}

func clonePasskey(p *auth.Passkey) *auth.Passkey {
	c := *p
	c.CredentialID = bytes.Clone(p.CredentialID)
	c.PublicKey = bytes.Clone(p.PublicKey)
	c.AAGUID = bytes.Clone(p.AAGUID)
	c.Transports = slices.Clone(p.Transports)
	c.CreatedAt = utc(p.CreatedAt)
	c.LastUsedAt = utcPtr(p.LastUsedAt)
	c.CloneSuspectedAt = utcPtr(p.CloneSuspectedAt)
	return &c
}

// SavePasskeyCeremony implements auth.PasskeyStore.
func (s *Store) SavePasskeyCeremony(_ context.Context, c *auth.PasskeyCeremony) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	// Expired ceremonies go whenever one is saved: nobody may finish them, and a flood of
	// begun sign-ins must not grow the map past what the rate limit lets through in a TTL.
	for k, old := range s.passkeys.ceremonies {
		if !now.Before(old.ExpiresAt) {
			delete(s.passkeys.ceremonies, k)
		}
	}
	if _, taken := s.passkeys.ceremonies[c.Challenge]; taken {
		return fmt.Errorf("memstore: save passkey ceremony: %w", auth.ErrConflict)
	}
	cp := *c
	cp.State = bytes.Clone(c.State)
	cp.ExpiresAt = utc(c.ExpiresAt)
	s.passkeys.ceremonies[c.Challenge] = &cp
	return nil
}

// TakePasskeyCeremony implements auth.PasskeyStore.
func (s *Store) TakePasskeyCeremony(_ context.Context, challenge string) (*auth.PasskeyCeremony, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.passkeys.ceremonies[challenge]
	if !ok {
		return nil, notFound("take passkey ceremony")
	}
	delete(s.passkeys.ceremonies, challenge)
	if !s.clock.Now().Before(c.ExpiresAt) {
		return nil, notFound("take passkey ceremony")
	}
	return c, nil
}

// CreatePasskey implements auth.PasskeyStore.
func (s *Store) CreatePasskey(_ context.Context, p *auth.Passkey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[p.UserID]; !ok {
		return notFound("create passkey")
	}
	if _, taken := s.passkeys.byCredential[string(p.CredentialID)]; taken {
		return fmt.Errorf("memstore: create passkey: %w", auth.ErrConflict)
	}
	s.passkeys.last++
	p.ID = s.passkeys.last
	s.passkeys.byID[p.ID] = clonePasskey(p)
	s.passkeys.byCredential[string(p.CredentialID)] = p.ID
	return nil
}

// PasskeysOf implements auth.PasskeyStore.
func (s *Store) PasskeysOf(_ context.Context, userID int64) ([]*auth.Passkey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*auth.Passkey
	for _, p := range s.passkeys.byID {
		if p.UserID == userID {
			out = append(out, clonePasskey(p))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// PasskeyByCredentialID implements auth.PasskeyStore.
func (s *Store) PasskeyByCredentialID(_ context.Context, credentialID []byte) (*auth.Passkey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.passkeys.byCredential[string(credentialID)]
	if !ok {
		return nil, notFound("passkey by credential id")
	}
	return clonePasskey(s.passkeys.byID[id]), nil
}

// UpdatePasskey implements auth.PasskeyStore.
func (s *Store) UpdatePasskey(_ context.Context, userID, id int64, edit func(*auth.Passkey) error) (*auth.Passkey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.passkeys.byID[id]
	if !ok || p.UserID != userID {
		return nil, notFound("update passkey")
	}
	c := clonePasskey(p)
	if err := edit(c); err != nil {
		return nil, err
	}
	// What identifies the credential and its owner is not the edit's to change.
	c.ID, c.UserID, c.CredentialID = p.ID, p.UserID, p.CredentialID
	s.passkeys.byID[id] = clonePasskey(c)
	return c, nil
}

// DeletePasskey implements auth.PasskeyStore.
func (s *Store) DeletePasskey(_ context.Context, userID, id int64) (*auth.Passkey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.passkeys.byID[id]
	if !ok || p.UserID != userID {
		return nil, notFound("delete passkey")
	}
	s.deletePasskey(p)
	return clonePasskey(p), nil
}

func (s *Store) deletePasskey(p *auth.Passkey) {
	delete(s.passkeys.byID, p.ID)
	delete(s.passkeys.byCredential, string(p.CredentialID))
}

// deletePasskeysOf removes a user's passkeys (DeleteUser).
func (s *Store) deletePasskeysOf(userID int64) {
	for _, p := range s.passkeys.byID {
		if p.UserID == userID {
			s.deletePasskey(p)
		}
	}
}
