package auth

import (
	"context"
	"sync"
	"time"
)

// LastUsedPrecision is how stale lastUsedAt may be: a session's or key's lastUsedAt is
// written at most once per LastUsedPrecision, never on every request.
//
// Two throttles keep it so. The record itself: Authenticate reads the session anyway, and
// writes only when the LastUsedAt it read is at least LastUsedPrecision old, which holds
// across replicas and restarts. And an in-process map of the last write per credential, so
// that concurrent requests of one session that all read the same old record write once, not
// once each. So an authenticated request costs the two reads it always did (session and
// user) and, once a minute per active session, one more command.
const LastUsedPrecision = time.Minute

// maxThrottleEntries bounds the in-process map; past it, entries older than
// LastUsedPrecision are dropped (and if none is, the map is cleared: the record still
// throttles, only the de-duplication of concurrent writes is lost for a moment).
const maxThrottleEntries = 1 << 16

type touchKind byte

const (
	touchSession touchKind = iota + 1
	touchKey
	// refusedServiceKey throttles the audit events of a refused service key (serviceaccounts.go).
	refusedServiceKey
)

type touchID struct {
	kind touchKind
	id   int64
}

type touchThrottle struct {
	mu   sync.Mutex
	last map[touchID]time.Time
}

func newTouchThrottle() *touchThrottle { return &touchThrottle{last: map[touchID]time.Time{}} }

// due reports whether a credential whose stored lastUsedAt is recorded should have it
// written at now, and if so reserves the write: other callers get false for a minute.
func (t *touchThrottle) due(id touchID, recorded *time.Time, now time.Time) bool {
	if recorded != nil && now.Sub(*recorded) < LastUsedPrecision {
		return false // the common case: no lock taken
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if w, ok := t.last[id]; ok && now.Sub(w) < LastUsedPrecision && !now.Before(w) {
		return false
	}
	if len(t.last) >= maxThrottleEntries {
		for k, w := range t.last {
			if now.Sub(w) >= LastUsedPrecision {
				delete(t.last, k)
			}
		}
		if len(t.last) >= maxThrottleEntries {
			clear(t.last)
		}
	}
	t.last[id] = now
	return true
}

// touchSession records that sess was used at now, if it is due. A failed write is not the
// request's failure: lastUsedAt is advisory, and the next due request writes it.
func (s *Service) touchSession(ctx context.Context, sess *Session, now time.Time) {
	if !s.touch.due(touchID{touchSession, sess.ID}, sess.LastUsedAt, now) {
		return
	}
	if err := s.sessions.TouchSession(ctx, sess, now); err == nil {
		t := now
		sess.LastUsedAt = &t
	}
}

// lastActive is when sess was last seen in use, as far as the store knows.
func lastActive(sess *Session) time.Time {
	if sess.LastUsedAt != nil && sess.LastUsedAt.After(sess.CreatedAt) {
		return *sess.LastUsedAt
	}
	return sess.CreatedAt
}

// idleExpired reports whether sess has been unused for longer than the idle timeout at now.
// lastUsedAt may lag the true last use by up to LastUsedPrecision, so the session gets that
// much more: it is never ended early, and at most LastUsedPrecision late.
func (s *Service) idleExpired(sess *Session, now time.Time) bool {
	return IdleExpired(sess, now, s.cfg.IdleTimeout)
}

// IdleExpired reports whether sess has been unused for longer than idle (0: no idle timeout)
// at now, with idleExpired's allowance for lastUsedAt's precision. The embeddable verifier,
// configured with the same AUTHGRAPH_SESSION_IDLE_TIMEOUT, judges by it too.
func IdleExpired(sess *Session, now time.Time, idle time.Duration) bool {
	return idle > 0 && now.Sub(lastActive(sess)) >= idle+LastUsedPrecision
}
