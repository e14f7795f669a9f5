package memstore

import (
	"cmp"
	"context"
	"slices"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// serviceState keeps service accounts and their keys (under Store.mu). byDigest indexes a
// key by its current secret's digest and, while its reroll grace lasts, its previous one.
type serviceState struct {
	lastAccount, lastKey int64
	accounts             map[int64]*auth.ServiceAccount
	ofAccount            map[int64]map[int64]struct{} // account id → service account ids
	keys                 map[int64]*auth.ServiceKey
	keysOf               map[int64]map[int64]struct{} // service account id → key ids
	byDigest             map[token.Digest]int64
}

func (st *serviceState) init() {
	if st.accounts == nil {
		st.accounts, st.ofAccount = map[int64]*auth.ServiceAccount{}, map[int64]map[int64]struct{}{}
		st.keys, st.keysOf, st.byDigest = map[int64]*auth.ServiceKey{}, map[int64]map[int64]struct{}{}, map[token.Digest]int64{}
	}
}

func copyServiceAccount(sa *auth.ServiceAccount) *auth.ServiceAccount {
	cp := *sa
	cp.Scopes = slices.Clone(sa.Scopes)
	cp.CreatedAt = utc(sa.CreatedAt)
	return &cp
}

func copyServiceKey(k *auth.ServiceKey) *auth.ServiceKey {
	cp := *k
	cp.Scopes = slices.Clone(k.Scopes)
	cp.CreatedAt = utc(k.CreatedAt)
	cp.ExpiresAt, cp.PreviousExpiresAt = utcPtr(k.ExpiresAt), utcPtr(k.PreviousExpiresAt)
	return &cp
}

// CreateServiceAccount implements auth.ServiceKeyStore.
func (s *Store) CreateServiceAccount(_ context.Context, sa *auth.ServiceAccount) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.services
	st.init()
	st.lastAccount++
	sa.ID = st.lastAccount
	st.accounts[sa.ID] = copyServiceAccount(sa)
	addTo(st.ofAccount, sa.AccountID, sa.ID)
	return nil
}

// ServiceAccount implements auth.ServiceKeyStore.
func (s *Store) ServiceAccount(_ context.Context, id int64) (*auth.ServiceAccount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.services.init()
	sa, ok := s.services.accounts[id]
	if !ok {
		return nil, notFound("service account")
	}
	return copyServiceAccount(sa), nil
}

// ServiceAccountsOf implements auth.ServiceKeyStore.
func (s *Store) ServiceAccountsOf(_ context.Context, accountID int64) ([]*auth.ServiceAccount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.services
	st.init()
	out := make([]*auth.ServiceAccount, 0, len(st.ofAccount[accountID]))
	for id := range st.ofAccount[accountID] {
		out = append(out, copyServiceAccount(st.accounts[id]))
	}
	slices.SortFunc(out, func(a, b *auth.ServiceAccount) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// UpdateServiceAccount implements auth.ServiceKeyStore.
func (s *Store) UpdateServiceAccount(_ context.Context, id int64, edit func(*auth.ServiceAccount) error) (*auth.ServiceAccount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.services
	st.init()
	cur, ok := st.accounts[id]
	if !ok {
		return nil, notFound("update service account")
	}
	next := copyServiceAccount(cur)
	if err := edit(next); err != nil {
		return nil, err
	}
	next.ID, next.AccountID = cur.ID, cur.AccountID
	st.accounts[id] = copyServiceAccount(next)
	return next, nil
}

// DeleteServiceAccount implements auth.ServiceKeyStore.
func (s *Store) DeleteServiceAccount(_ context.Context, id int64) (*auth.ServiceAccount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.services
	st.init()
	sa, ok := st.accounts[id]
	if !ok {
		return nil, notFound("delete service account")
	}
	for kid := range st.keysOf[id] {
		st.dropKey(kid)
	}
	delete(st.accounts, id)
	removeFrom(st.ofAccount, sa.AccountID, id)
	return copyServiceAccount(sa), nil
}

// dropKey removes a key and its digest entries.
func (st *serviceState) dropKey(id int64) *auth.ServiceKey {
	k, ok := st.keys[id]
	if !ok {
		return nil
	}
	st.unindex(k)
	delete(st.keys, id)
	removeFrom(st.keysOf, k.ServiceAccountID, id)
	return k
}

func (st *serviceState) unindex(k *auth.ServiceKey) {
	for _, d := range []token.Digest{k.Digest, k.PreviousDigest} {
		if st.byDigest[d] == k.ID {
			delete(st.byDigest, d)
		}
	}
}

func (st *serviceState) index(k *auth.ServiceKey) {
	st.byDigest[k.Digest] = k.ID
	if k.PreviousExpiresAt != nil {
		st.byDigest[k.PreviousDigest] = k.ID
	}
}

// CreateServiceKey implements auth.ServiceKeyStore. The service account must exist.
func (s *Store) CreateServiceKey(_ context.Context, k *auth.ServiceKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.services
	st.init()
	if _, ok := st.accounts[k.ServiceAccountID]; !ok {
		return notFound("create service key: service account")
	}
	st.lastKey++
	k.ID = st.lastKey
	cp := copyServiceKey(k)
	st.keys[k.ID] = cp
	addTo(st.keysOf, k.ServiceAccountID, k.ID)
	st.index(cp)
	return nil
}

// ServiceKey implements auth.ServiceKeyStore.
func (s *Store) ServiceKey(_ context.Context, id int64) (*auth.ServiceKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.services.init()
	k, ok := s.services.keys[id]
	if !ok {
		return nil, notFound("service key")
	}
	return copyServiceKey(k), nil
}

// ServiceKeysOf implements auth.ServiceKeyStore.
func (s *Store) ServiceKeysOf(_ context.Context, serviceAccountID int64) ([]*auth.ServiceKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.services
	st.init()
	out := make([]*auth.ServiceKey, 0, len(st.keysOf[serviceAccountID]))
	for id := range st.keysOf[serviceAccountID] {
		out = append(out, copyServiceKey(st.keys[id]))
	}
	slices.SortFunc(out, func(a, b *auth.ServiceKey) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// UpdateServiceKey implements auth.ServiceKeyStore.
func (s *Store) UpdateServiceKey(_ context.Context, id int64, edit func(*auth.ServiceKey) error) (*auth.ServiceKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.services
	st.init()
	cur, ok := st.keys[id]
	if !ok {
		return nil, notFound("update service key")
	}
	next := copyServiceKey(cur)
	if err := edit(next); err != nil {
		return nil, err
	}
	next.ID, next.ServiceAccountID, next.AccountID = cur.ID, cur.ServiceAccountID, cur.AccountID
	st.unindex(cur)
	cp := copyServiceKey(next)
	st.keys[id] = cp
	st.index(cp)
	return next, nil
}

// DeleteServiceKey implements auth.ServiceKeyStore.
func (s *Store) DeleteServiceKey(_ context.Context, serviceAccountID, id int64) (*auth.ServiceKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.services
	st.init()
	if k, ok := st.keys[id]; !ok || k.ServiceAccountID != serviceAccountID {
		return nil, notFound("delete service key")
	}
	return copyServiceKey(st.dropKey(id)), nil
}

// ServiceKeyByDigest implements auth.ServiceKeyStore.
func (s *Store) ServiceKeyByDigest(_ context.Context, d token.Digest) (*auth.ServiceCredential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.services
	st.init()
	id, ok := st.byDigest[d]
	if !ok {
		return nil, notFound("service key by digest")
	}
	k := st.keys[id]
	if !k.Matches(d, s.clock.Now()) {
		return nil, notFound("service key by digest")
	}
	sa, ok := st.accounts[k.ServiceAccountID]
	if !ok {
		return nil, notFound("service key by digest: service account")
	}
	return &auth.ServiceCredential{Key: copyServiceKey(k), Account: copyServiceAccount(sa)}, nil
}
