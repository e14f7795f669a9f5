package auth

import (
	"context"
	"errors"
	"fmt"
)

// EndedSession is a session just ended. Token is set only when it was the caller's own
// session, whose token the caller sent.
type EndedSession struct {
	Session *Session
	Token   string
}

// DeleteSession ends one of the current user's sessions; sessionID nil means the current
// one (log out). Someone else's session is not found, never forbidden. Ending a refreshable
// session ends its whole family: its refresh token stops working too.
// Ending a session other than the current one needs the sessions:write scope.
func (s *Service) DeleteSession(ctx context.Context, sessionID *int64) (ret *EndedSession, rerr error) {
	defer func() { s.noteSessionEnded(ctx, ret, rerr) }()
	p, err := requirePrincipal(ctx)
	if err != nil {
		return nil, err
	}
	id := p.Session.ID
	if sessionID != nil {
		id = *sessionID
	}
	// Logging out needs no scope: it only gives rights up. Ending another session does.
	if id != p.Session.ID && !p.HasScope(ScopeSessionsWrite) {
		return nil, missingScope(ScopeSessionsWrite)
	}
	if ended, err := s.deleteRefreshable(ctx, p, id); ended != nil || err != nil {
		return ended, err
	}
	sess, err := s.sessions.DeleteSession(ctx, p.User.ID, id)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "session not found")
	}
	if err != nil {
		return nil, fmt.Errorf("delete session: %w", err)
	}
	ended := &EndedSession{Session: sess}
	if sess.ID == p.Session.ID {
		ended.Token = p.Token
	}
	return ended, nil
}

// deleteRefreshable ends session id's family if the session is refreshable, and answers
// nil, nil if it is not (or does not exist), for DeleteSession to go on as for any session.
// The family is revoked before anything else is deleted, so a failure leaves the session in
// place for a retry to find, never a refresh token outliving its session.
func (s *Service) deleteRefreshable(ctx context.Context, p *Principal, id int64) (*EndedSession, error) {
	target := p.Session
	if id != p.Session.ID {
		target = nil
		sessions, err := s.sessions.SessionsOf(ctx, p.User.ID)
		if err != nil {
			return nil, fmt.Errorf("find session: %w", err)
		}
		for _, sess := range sessions {
			if sess.ID == id {
				target = sess
			}
		}
	}
	if target == nil || !target.Refreshable() {
		return nil, nil
	}
	err := s.endFamilyOf(ctx, p.User.ID, target)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "session not found")
	}
	if err != nil {
		return nil, fmt.Errorf("end token family: %w", err)
	}
	ended := &EndedSession{Session: target}
	if target.ID == p.Session.ID {
		ended.Token = p.Token
	}
	return ended, nil
}

// Sessions lists a user's live sessions: the caller's own, or anyone's for an admin.
func (s *Service) Sessions(ctx context.Context, userID int64) ([]*Session, error) {
	p, err := requireScope(ctx, ScopeRead)
	if err != nil {
		return nil, err
	}
	if !canSee(p, userID) {
		return nil, Errorf(CodeNotFound, "user not found")
	}
	sessions, err := s.sessions.SessionsOf(ctx, userID)
	if err != nil || s.cfg.IdleTimeout <= 0 {
		return sessions, err
	}
	now := s.clock.Now()
	live := sessions[:0]
	for _, sess := range sessions {
		if !s.idleExpired(sess, now) {
			live = append(live, sess)
		}
	}
	return live, nil
}

// IsCurrent reports whether sess is the session making the request in ctx.
func IsCurrent(ctx context.Context, sess *Session) bool {
	p := PrincipalFrom(ctx)
	return p != nil && p.Session != nil && p.Session.ID == sess.ID
}
