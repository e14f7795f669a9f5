package memstore

import (
	"bytes"
	"context"
	"fmt"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// totpState is a user's second factor while it is on. The store's one mutex makes every
// operation on it atomic, replay and recovery-code checks included.
type totpState struct {
	secret   []byte
	lastStep int64
	recovery map[token.Digest]struct{}
}

// SetPendingTOTP implements auth.TOTPStore.
func (s *Store) SetPendingTOTP(_ context.Context, userID int64, p *auth.PendingTOTP) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enrolling[userID] = &auth.PendingTOTP{Secret: bytes.Clone(p.Secret), ExpiresAt: utc(p.ExpiresAt)}
	return nil
}

// PendingTOTP implements auth.TOTPStore.
func (s *Store) PendingTOTP(_ context.Context, userID int64) (*auth.PendingTOTP, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.livePending(userID)
	if !ok {
		return nil, notFound("pending totp")
	}
	return &auth.PendingTOTP{Secret: bytes.Clone(p.Secret), ExpiresAt: p.ExpiresAt}, nil
}

// livePending answers the user's unexpired enrolment, and drops an expired one.
func (s *Store) livePending(userID int64) (*auth.PendingTOTP, bool) {
	p, ok := s.enrolling[userID]
	if !ok {
		return nil, false
	}
	if !s.clock.Now().Before(p.ExpiresAt) {
		delete(s.enrolling, userID)
		return nil, false
	}
	return p, true
}

// EnableTOTP implements auth.TOTPStore.
func (s *Store) EnableTOTP(_ context.Context, userID int64, secret []byte, step int64, recovery []token.Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, on := s.totp[userID]; on {
		return fmt.Errorf("memstore: enable totp: %w", auth.ErrConflict)
	}
	p, ok := s.livePending(userID)
	if !ok || !bytes.Equal(p.Secret, secret) {
		return notFound("enable totp")
	}
	st := &totpState{secret: bytes.Clone(secret), lastStep: step, recovery: make(map[token.Digest]struct{}, len(recovery))}
	for _, d := range recovery {
		st.recovery[d] = struct{}{}
	}
	s.totp[userID] = st
	delete(s.enrolling, userID)
	return nil
}

// TOTP implements auth.TOTPStore.
func (s *Store) TOTP(_ context.Context, userID int64) (*auth.TOTP, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.totp[userID]
	if !ok {
		return nil, notFound("totp")
	}
	return &auth.TOTP{Secret: bytes.Clone(st.secret), LastStep: st.lastStep, RecoveryCodes: len(st.recovery)}, nil
}

// UseTOTPStep implements auth.TOTPStore.
func (s *Store) UseTOTPStep(_ context.Context, userID int64, step int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.totp[userID]
	switch {
	case !ok:
		return notFound("use totp step")
	case step <= st.lastStep:
		return fmt.Errorf("memstore: use totp step: %w", auth.ErrConflict)
	}
	st.lastStep = step
	return nil
}

// UseRecoveryCode implements auth.TOTPStore.
func (s *Store) UseRecoveryCode(_ context.Context, userID int64, d token.Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.totp[userID]
	if !ok {
		return notFound("use recovery code")
	}
	if _, ok := st.recovery[d]; !ok {
		return notFound("use recovery code")
	}
	delete(st.recovery, d)
	return nil
}

// DisableTOTP implements auth.TOTPStore.
func (s *Store) DisableTOTP(_ context.Context, userID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.enrolling, userID)
	if _, ok := s.totp[userID]; !ok {
		return notFound("disable totp")
	}
	delete(s.totp, userID)
	return nil
}
