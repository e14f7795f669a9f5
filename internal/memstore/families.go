package memstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// refreshState keeps the token families (auth.RefreshStore), under Store.mu like the rest.
type refreshState struct {
	last     int64
	families map[int64]*family
	// byDigest maps every remembered refresh token of a live family (current or rotated, not
	// yet expired) to its family, so that the reuse of a rotated token is recognised.
	byDigest map[token.Digest]int64
	// sweepAt is the number of families at which expired ones are next swept out.
	sweepAt int
}

func newRefreshState() refreshState {
	return refreshState{families: map[int64]*family{}, byDigest: map[token.Digest]int64{}}
}

type family struct {
	auth.Family
	tokens   map[token.Digest]time.Time // refresh tokens of the family → their expiry
	grace    map[token.Digest]graceEntry
	sessions map[int64]struct{} // access session ids
}

// graceEntry is a rotated token's successor pair, sealed, kept until the window closes.
type graceEntry struct {
	until  time.Time
	sealed []byte
}

// CreateFamily implements auth.RefreshStore.
func (s *Store) CreateFamily(_ context.Context, f *auth.Family, first *auth.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.refresh.byDigest[f.RefreshDigest]; ok {
		return fmt.Errorf("memstore: create family: %w", auth.ErrConflict)
	}
	s.sweepFamilies()
	s.refresh.last++
	first.FamilyID = s.refresh.last
	if err := s.createSession(first); err != nil {
		s.refresh.last-- // nothing else saw the id
		first.FamilyID = 0
		return err
	}
	f.ID = s.refresh.last
	fam := &family{
		Family:   copyFamily(f),
		tokens:   map[token.Digest]time.Time{f.RefreshDigest: f.RefreshExpiresAt},
		grace:    map[token.Digest]graceEntry{},
		sessions: map[int64]struct{}{first.ID: {}},
	}
	s.refresh.families[f.ID] = fam
	s.refresh.byDigest[f.RefreshDigest] = f.ID
	return nil
}

// FamilyByRefreshDigest implements auth.RefreshStore.
func (s *Store) FamilyByRefreshDigest(_ context.Context, d token.Digest) (*auth.Family, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	fam := s.liveFamily(s.refresh.byDigest[d], now)
	if fam == nil {
		return nil, notFound("family by refresh digest")
	}
	if exp, ok := fam.tokens[d]; !ok || !now.Before(exp) {
		return nil, notFound("family by refresh digest")
	}
	f := copyFamily(&fam.Family)
	return &f, nil
}

// Rotate implements auth.RefreshStore.
func (s *Store) Rotate(_ context.Context, r *auth.Rotation) (*auth.RotationResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fam := s.liveFamily(r.FamilyID, r.Now)
	if fam == nil {
		return nil, notFound("rotate")
	}
	if _, ok := fam.tokens[r.Presented]; !ok {
		return nil, notFound("rotate")
	}
	if fam.RefreshDigest != r.Presented {
		if g, ok := fam.grace[r.Presented]; ok && r.Now.Before(g.until) {
			return &auth.RotationResult{Outcome: auth.Replayed, Sealed: bytes.Clone(g.sealed)}, nil
		}
		s.removeFamily(fam)
		return &auth.RotationResult{Outcome: auth.Reused}, nil
	}
	if _, taken := s.refresh.byDigest[r.Next]; taken {
		return nil, fmt.Errorf("memstore: rotate: %w", auth.ErrConflict)
	}
	r.Access.FamilyID = fam.ID
	if err := s.createSession(r.Access); err != nil {
		return nil, err
	}
	fam.sessions[r.Access.ID] = struct{}{}
	if r.Grace > 0 {
		fam.grace[r.Presented] = graceEntry{until: r.Now.Add(r.Grace), sealed: bytes.Clone(r.Sealed)}
	}
	fam.RefreshDigest, fam.RefreshExpiresAt = r.Next, r.NextExpiresAt
	fam.tokens[r.Next] = r.NextExpiresAt
	s.refresh.byDigest[r.Next] = fam.ID
	s.pruneFamily(fam, r.Now)
	return &auth.RotationResult{Outcome: auth.Rotated}, nil
}

// RevokeFamily implements auth.RefreshStore.
func (s *Store) RevokeFamily(_ context.Context, userID, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fam := s.liveFamily(id, s.clock.Now())
	if fam == nil || fam.UserID != userID {
		return notFound("revoke family")
	}
	s.removeFamily(fam)
	return nil
}

// liveFamily answers family id if its current refresh token has not expired at now, and
// removes it if it has.
func (s *Store) liveFamily(id int64, now time.Time) *family {
	fam, ok := s.refresh.families[id]
	if !ok {
		return nil
	}
	if !now.Before(fam.RefreshExpiresAt) {
		s.removeFamily(fam)
		return nil
	}
	return fam
}

// removeFamily forgets a family, its refresh tokens and its access sessions.
func (s *Store) removeFamily(fam *family) {
	for d := range fam.tokens {
		if s.refresh.byDigest[d] == fam.ID {
			delete(s.refresh.byDigest, d)
		}
	}
	for id := range fam.sessions {
		if sess, ok := s.sessions[id]; ok {
			s.remove(sess)
		}
	}
	delete(s.refresh.families, fam.ID)
}

// pruneFamily drops what a family no longer needs at now: expired refresh tokens (their reuse
// is no longer a signal), closed grace windows, and ended access sessions.
func (s *Store) pruneFamily(fam *family, now time.Time) {
	for d, exp := range fam.tokens {
		if !now.Before(exp) {
			delete(fam.tokens, d)
			delete(s.refresh.byDigest, d)
		}
	}
	for d, g := range fam.grace {
		if !now.Before(g.until) {
			delete(fam.grace, d)
		}
	}
	for id := range fam.sessions {
		if _, ok := s.live(id); !ok {
			delete(fam.sessions, id)
		}
	}
}

// sweepFamilies drops every expired family once there are sweepAt of them, as sweep does for
// sessions, so families nobody refreshes again do not stay forever.
func (s *Store) sweepFamilies() {
	if len(s.refresh.families) < s.refresh.sweepAt {
		return
	}
	now := s.clock.Now()
	for id := range s.refresh.families {
		s.liveFamily(id, now)
	}
	s.refresh.sweepAt = 2*len(s.refresh.families) + 64
}

func copyFamily(f *auth.Family) auth.Family {
	c := *f
	c.CreatedAt = utc(f.CreatedAt)
	c.RefreshExpiresAt = utc(f.RefreshExpiresAt)
	return c
}
