package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// CreateSession implements auth.SessionStore. A digest that a live session already has is a
// conflict: a session must never take over another's token. The user must exist.
func (s *Store) CreateSession(_ context.Context, sess *auth.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createSession(sess)
}

// createSession is CreateSession with s.mu held. The credentials are checked under the
// same lock as every revocation runs, so a revocation either comes first (and the check
// refuses) or finds the session and ends it.
func (s *Store) createSession(sess *auth.Session) error {
	if err := s.checkCredentials(sess); err != nil {
		return err
	}
	if _, err := s.liveByDigest(sess.TokenDigest); err == nil {
		return fmt.Errorf("memstore: create session: %w", auth.ErrConflict)
	}
	s.sweep()
	s.lastSession++
	sess.ID = s.lastSession
	s.sessions[sess.ID] = copySession(sess)
	s.byDigest[sess.TokenDigest] = sess.ID
	addTo(s.sessionsOf, sess.UserID, sess.ID)
	return nil
}

// SessionByDigest implements auth.SessionStore.
func (s *Store) SessionByDigest(_ context.Context, d token.Digest) (*auth.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.liveByDigest(d)
	if err != nil {
		return nil, err
	}
	return copySession(sess), nil
}

// SessionsOf implements auth.SessionStore.
func (s *Store) SessionsOf(_ context.Context, userID int64) ([]*auth.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*auth.Session, 0, len(s.sessionsOf[userID]))
	for id := range s.sessionsOf[userID] {
		if sess, ok := s.live(id); ok {
			out = append(out, copySession(sess))
		}
	}
	slices.SortFunc(out, func(a, b *auth.Session) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteSession implements auth.SessionStore.
func (s *Store) DeleteSession(_ context.Context, userID, id int64) (*auth.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.live(id)
	if !ok || sess.UserID != userID {
		return nil, notFound("delete session")
	}
	s.remove(sess)
	return sess, nil
}

// liveByDigest answers the unexpired session with digest d.
func (s *Store) liveByDigest(d token.Digest) (*auth.Session, error) {
	id, ok := s.byDigest[d]
	if !ok {
		return nil, notFound("session by digest")
	}
	sess, ok := s.live(id)
	if !ok {
		return nil, notFound("session by digest")
	}
	return sess, nil
}

// live answers session id if it has not expired, and prunes it if it has.
func (s *Store) live(id int64) (*auth.Session, bool) {
	sess, ok := s.sessions[id]
	if !ok {
		return nil, false
	}
	if sess.Expired(s.clock.Now()) {
		s.remove(sess)
		return nil, false
	}
	return sess, true
}

func (s *Store) remove(sess *auth.Session) {
	delete(s.sessions, sess.ID)
	delete(s.byDigest, sess.TokenDigest)
	removeFrom(s.sessionsOf, sess.UserID, sess.ID)
}

// sweep drops every expired session once the store has grown to sweepAt, then sets the next
// sweep at twice the live size: the sweeps cost O(1) per CreateSession on average.
func (s *Store) sweep() {
	if len(s.sessions) < s.sweepAt {
		return
	}
	for id := range s.sessions {
		s.live(id)
	}
	s.sweepAt = 2*len(s.sessions) + 64
}

// checkCredentials answers ErrNotFound unless the credentials sess is made from hold (see
// auth.SessionStore.CreateSession). s.mu must be held.
func (s *Store) checkCredentials(sess *auth.Session) error {
	u, ok := s.users[sess.UserID]
	if !ok || u.Disabled || (sess.PasswordVersion != nil && *sess.PasswordVersion != u.PasswordVersion) {
		return notFound("create session: user")
	}
	if sess.UserKeyID != 0 {
		if k, ok := s.keys[sess.UserKeyID]; !ok || k.UserID != sess.UserID {
			return notFound("create session: user key")
		}
	}
	return nil
}

func copySession(sess *auth.Session) *auth.Session {
	c := *sess
	c.PasswordVersion = nil // a condition of the creation, not part of the record
	c.CreatedAt = utc(sess.CreatedAt)
	c.ExpiresAt = utc(sess.ExpiresAt)
	c.LastUsedAt = utcPtr(sess.LastUsedAt)
	c.AuthenticatedAt = utc(sess.AuthenticatedAt)
	c.Scopes = slices.Clone(sess.Scopes)
	return &c
}
