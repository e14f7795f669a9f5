package memstore

import (
	"cmp"
	"context"
	"slices"

	"github.com/authgraph/authgraph/internal/auth"
)

// CreateKey implements auth.KeyStore. The user must exist.
func (s *Store) CreateKey(_ context.Context, k *auth.UserKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[k.UserID]; !ok {
		return notFound("create key: user")
	}
	s.lastKey++
	k.ID = s.lastKey
	s.keys[k.ID] = copyKey(k)
	addTo(s.keysOf, k.UserID, k.ID)
	return nil
}

// Key implements auth.KeyStore. A key past its ExpiresAt is still answered: it stays listed
// until its owner deletes it, and the domain refuses to make sessions with it.
func (s *Store) Key(_ context.Context, id int64) (*auth.UserKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return nil, notFound("key")
	}
	return copyKey(k), nil
}

// KeysOf implements auth.KeyStore.
func (s *Store) KeysOf(_ context.Context, userID int64) ([]*auth.UserKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*auth.UserKey, 0, len(s.keysOf[userID]))
	for id := range s.keysOf[userID] {
		out = append(out, copyKey(s.keys[id]))
	}
	slices.SortFunc(out, func(a, b *auth.UserKey) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// SetKeyHash implements auth.KeyStore.
func (s *Store) SetKeyHash(_ context.Context, id int64, hash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return notFound("set key hash")
	}
	k.SecretHash = hash
	return nil
}

// DeleteKey implements auth.KeyStore: the key, its families and its sessions go in one step
// under the lock, which every creation of a session also holds while it checks the key.
func (s *Store) DeleteKey(_ context.Context, userID, id int64) (*auth.UserKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok || k.UserID != userID {
		return nil, notFound("delete key")
	}
	delete(s.keys, id)
	removeFrom(s.keysOf, userID, id)
	for _, fam := range s.refresh.families {
		if fam.UserID == userID && fam.UserKeyID == id {
			s.removeFamily(fam)
		}
	}
	for sessID := range s.sessionsOf[userID] {
		if sess, ok := s.sessions[sessID]; ok && sess.UserKeyID == id {
			s.remove(sess)
		}
	}
	return k, nil // no longer stored, so no copy is needed
}

func copyKey(k *auth.UserKey) *auth.UserKey {
	c := *k
	c.CreatedAt = utc(k.CreatedAt)
	c.LastUsedAt = utcPtr(k.LastUsedAt)
	c.ExpiresAt = utcPtr(k.ExpiresAt)
	c.PreviousSecretExpiresAt = utcPtr(k.PreviousSecretExpiresAt)
	c.Scopes = slices.Clone(k.Scopes)
	return &c
}
