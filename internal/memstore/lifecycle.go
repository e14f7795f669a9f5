package memstore

import (
	"context"
	"slices"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// UpdateUser implements auth.UserStore.
func (s *Store) UpdateUser(_ context.Context, id int64, edit func(*auth.User) error) (*auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return nil, notFound("update user")
	}
	c := copyUser(u)
	if err := edit(c); err != nil {
		return nil, err
	}
	c.ID, c.Username = u.ID, u.Username // neither can change: the username index keys on it
	c.Email = u.Email                   // nor can the email: SetEmail claims it
	s.users[id] = copyUser(c)
	return c, nil
}

// ListUsers implements auth.UserStore. It sorts every id: the embedded store is for
// development, where users are few.
func (s *Store) ListUsers(_ context.Context, after, before int64, limit int, fromEnd bool) ([]*auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]int64, 0, len(s.users))
	for id := range s.users {
		if id > after && (before == 0 || id < before) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if len(ids) > limit {
		if fromEnd {
			ids = ids[len(ids)-limit:]
		} else {
			ids = ids[:limit]
		}
	}
	out := make([]*auth.User, len(ids))
	for i, id := range ids {
		out[i] = copyUser(s.users[id])
	}
	return out, nil
}

// CountUsers implements auth.UserStore.
func (s *Store) CountUsers(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.users), nil
}

// DeleteUser implements auth.UserStore: the user, their username, keys, sessions, refresh
// token families, second factor and passkeys.
func (s *Store) DeleteUser(_ context.Context, id int64) (*auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return nil, notFound("delete user")
	}
	for keyID := range s.keysOf[id] {
		delete(s.keys, keyID)
	}
	delete(s.keysOf, id)
	for _, fam := range s.refresh.families {
		if fam.UserID == id {
			s.removeFamily(fam)
		}
	}
	for sessID := range s.sessionsOf[id] {
		if sess, ok := s.sessions[sessID]; ok {
			s.remove(sess)
		}
	}
	delete(s.sessionsOf, id)
	delete(s.totp, id)
	delete(s.enrolling, id)
	s.deletePasskeysOf(id)
	if byAccount := s.byUsername[u.Username]; byAccount[u.AccountID] == id {
		delete(byAccount, u.AccountID)
		if len(byAccount) == 0 {
			delete(s.byUsername, u.Username)
		}
	}
	s.releaseEmail(u)
	s.dropIdentitiesOf(id)
	delete(s.users, id)
	return u, nil
}

// UpdateKey implements auth.KeyStore.
func (s *Store) UpdateKey(_ context.Context, id int64, edit func(*auth.UserKey) error) (*auth.UserKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return nil, notFound("update key")
	}
	c := copyKey(k)
	if err := edit(c); err != nil {
		return nil, err
	}
	c.ID, c.UserID = k.ID, k.UserID // the owner never changes: the per-user index keys on it
	s.keys[id] = copyKey(c)
	return c, nil
}

// TouchSession implements auth.SessionStore.
func (s *Store) TouchSession(_ context.Context, sess *auth.Session, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.live(sess.ID); ok && cur.UserID == sess.UserID {
		t := at.UTC()
		cur.LastUsedAt = &t
	}
	return nil
}

// DeleteSessionsOf implements auth.SessionStore. It scans every family: the embedded store
// is for development, where families are few.
func (s *Store) DeleteSessionsOf(_ context.Context, userID, exceptID int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keepFamily int64
	if sess, ok := s.live(exceptID); ok && sess.UserID == userID {
		keepFamily = sess.FamilyID
	}
	n := 0
	for id := range s.sessionsOf[userID] {
		if id == exceptID {
			continue
		}
		if sess, ok := s.live(id); ok {
			s.remove(sess)
			n++
		}
	}
	for _, fam := range s.refresh.families {
		if fam.UserID == userID && fam.ID != keepFamily {
			s.removeFamily(fam)
		}
	}
	return n, nil
}
