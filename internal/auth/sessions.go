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
// one (log out). Someone else's session is not found, never forbidden.
func (s *Service) DeleteSession(ctx context.Context, sessionID *int64) (*EndedSession, error) {
	p, err := requirePrincipal(ctx)
	if err != nil {
		return nil, err
	}
	id := p.Session.ID
	if sessionID != nil {
		id = *sessionID
	}
	sess, err := s.store.DeleteSession(ctx, p.User.ID, id)
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

// Sessions lists a user's live sessions: the caller's own, or anyone's for an admin.
func (s *Service) Sessions(ctx context.Context, userID int64) ([]*Session, error) {
	p, err := requirePrincipal(ctx)
	if err != nil {
		return nil, err
	}
	if !canSee(p, userID) {
		return nil, Errorf(CodeNotFound, "user not found")
	}
	return s.store.SessionsOf(ctx, userID)
}

// IsCurrent reports whether sess is the session making the request in ctx.
func IsCurrent(ctx context.Context, sess *Session) bool {
	p := PrincipalFrom(ctx)
	return p != nil && p.Session != nil && p.Session.ID == sess.ID
}
