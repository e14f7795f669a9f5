package sessioncache

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// Service keys (x-api-key) are cached like sessions: a verified key with its service
// account, by the digest of the secret that found it, for at most the TTL and never past
// the key's expiry or its previous secret's grace. Deleting, rerolling or changing a key
// publishes ServiceKeyChanged; disabling, renaming or deleting a service account publishes
// ServiceAccountChanged, which drops every cached key of it: revocation reaches every
// replica within the bound of a session's.

func (c *cache) serviceShard(d token.Digest) *shard[token.Digest, *auth.ServiceCredential] {
	return &c.services[d[0]%shardCount]
}

func (c *cache) service(d token.Digest, now time.Time) (*auth.ServiceCredential, bool) {
	return c.serviceShard(d).get(d, now)
}

func (c *cache) putService(epoch uint64, d token.Digest, cred *auth.ServiceCredential, now time.Time) {
	until := now.Add(c.ttl)
	k := cred.Key
	if k.ExpiresAt != nil && k.ExpiresAt.Before(until) {
		until = *k.ExpiresAt
	}
	if d != k.Digest && k.PreviousExpiresAt != nil && k.PreviousExpiresAt.Before(until) {
		until = *k.PreviousExpiresAt
	}
	c.serviceShard(d).put(c, epoch, d, cred, until)
}

// dropServicesWhere forgets the cached keys that match; as dropSessionsWhere, it walks the
// cache, which is fine for what calls it (a key or a service account changing: rare).
func (c *cache) dropServicesWhere(match func(*auth.ServiceCredential) bool) {
	c.epoch.Add(1)
	for i := range c.services {
		s := &c.services[i]
		s.mu.Lock()
		for _, k := range s.lru.Keys() {
			if e, ok := s.lru.Peek(k); ok && match(e.val) {
				s.lru.Remove(k)
			}
		}
		s.mu.Unlock()
	}
}

func (c *cache) dropServiceKey(id int64) {
	c.dropServicesWhere(func(cr *auth.ServiceCredential) bool { return cr.Key.ID == id })
}

func (c *cache) dropServiceAccount(id int64) {
	c.dropServicesWhere(func(cr *auth.ServiceCredential) bool { return cr.Account.ID == id })
}

func copyCredential(cr *auth.ServiceCredential) *auth.ServiceCredential {
	k, sa := *cr.Key, *cr.Account
	k.Scopes, sa.Scopes = slices.Clone(k.Scopes), slices.Clone(sa.Scopes)
	return &auth.ServiceCredential{Key: &k, Account: &sa}
}

// ServiceKeyByDigest implements auth.ServiceKeyStore from the cache when it can; as for
// sessions, only found keys are cached.
func (s *Store) ServiceKeyByDigest(ctx context.Context, d token.Digest) (*auth.ServiceCredential, error) {
	now := s.clock.Now()
	if cr, ok := s.c.service(d, now); ok {
		return copyCredential(cr), nil
	}
	epoch, live := s.c.snapshot()
	cr, err := s.next.ServiceKeyByDigest(ctx, d)
	if err == nil && live {
		s.c.putService(epoch, d, copyCredential(cr), now)
	}
	return cr, err
}

// ServiceKeyChanged forgets a service key here and on every replica.
func (s *Store) ServiceKeyChanged(ctx context.Context, id int64) {
	s.c.dropServiceKey(id)
	s.publish(ctx, userMsg(msgServiceKey, id))
}

// ServiceAccountChanged forgets every key of a service account here and on every replica.
func (s *Store) ServiceAccountChanged(ctx context.Context, id int64) {
	s.c.dropServiceAccount(id)
	s.publish(ctx, userMsg(msgServiceAcct, id))
}

// UpdateServiceAccount implements auth.ServiceKeyStore, and publishes the change (a
// disabled service account's keys stop).
func (s *Store) UpdateServiceAccount(ctx context.Context, id int64, edit func(*auth.ServiceAccount) error) (*auth.ServiceAccount, error) {
	sa, err := s.next.UpdateServiceAccount(ctx, id, edit)
	if !errors.Is(err, auth.ErrNotFound) {
		s.ServiceAccountChanged(ctx, id)
	}
	return sa, err
}

// DeleteServiceAccount implements auth.ServiceKeyStore, and publishes the end of all its keys.
func (s *Store) DeleteServiceAccount(ctx context.Context, id int64) (*auth.ServiceAccount, error) {
	sa, err := s.next.DeleteServiceAccount(ctx, id)
	if !errors.Is(err, auth.ErrNotFound) {
		s.ServiceAccountChanged(ctx, id)
	}
	return sa, err
}

// UpdateServiceKey implements auth.ServiceKeyStore, and publishes the change (a reroll with
// no grace ends the old secret).
func (s *Store) UpdateServiceKey(ctx context.Context, id int64, edit func(*auth.ServiceKey) error) (*auth.ServiceKey, error) {
	k, err := s.next.UpdateServiceKey(ctx, id, edit)
	if !errors.Is(err, auth.ErrNotFound) {
		s.ServiceKeyChanged(ctx, id)
	}
	return k, err
}

// DeleteServiceKey implements auth.ServiceKeyStore, and publishes the end of the key.
func (s *Store) DeleteServiceKey(ctx context.Context, serviceAccountID, id int64) (*auth.ServiceKey, error) {
	k, err := s.next.DeleteServiceKey(ctx, serviceAccountID, id)
	if !errors.Is(err, auth.ErrNotFound) {
		s.ServiceKeyChanged(ctx, id)
	}
	return k, err
}
