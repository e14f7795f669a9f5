package auth

import (
	"context"
	"time"
)

// LifecycleStore is what the lifecycle of accounts, keys and sessions needs beyond the basic
// stores: updates under concurrency, ending many sessions, listing and deleting users. Its
// rules are part of the conformance suite (internal/storetest) like the others'.
//
// Two rules bind the older methods too:
//   - CreateKey, CreateSession and CreateFamily answer ErrNotFound, and leave nothing behind,
//     when the user does not exist, also when DeleteUser removes the user while they run.
//     CreateSession, CreateFamily and Rotate answer the same when the user is disabled, or
//     the session's key or password is revoked, while they run (see CreateSession).
//   - Sessions are immutable once made, except for LastUsedAt (TouchSession).
type LifecycleStore interface {
	// UpdateUser applies edit to the stored user and saves the result, atomically: concurrent
	// updates are serialised, and an update never brings back a deleted user. edit may run
	// more than once (on a fresh copy each time); an error from it aborts the update and is
	// answered as it is. ErrNotFound if there is no such user.
	UpdateUser(ctx context.Context, id int64, edit func(*User) error) (*User, error)
	// ListUsers answers up to limit users whose ids lie strictly between after and before
	// (0: no bound), in ascending id order: the lowest ids of that range, or the highest if
	// fromEnd.
	ListUsers(ctx context.Context, after, before int64, limit int, fromEnd bool) ([]*User, error)
	// CountUsers answers how many users there are.
	CountUsers(ctx context.Context) (int, error)
	// DeleteUser removes the user with everything that is theirs: username, keys, sessions,
	// refresh token families (with every refresh token they issued), second factor, and every
	// index entry. Of concurrent calls for one user exactly one answers the user;
	// the others answer ErrNotFound. A call that fails half-way leaves the user unusable (not
	// found), and a later DeleteUser of the same id finishes the cleanup.
	DeleteUser(ctx context.Context, id int64) (*User, error)

	// UpdateKey is UpdateUser for keys.
	UpdateKey(ctx context.Context, id int64, edit func(*UserKey) error) (*UserKey, error)

	// TouchSession records at as the LastUsedAt of sess (as read by SessionByDigest); it does
	// nothing if the session has ended meanwhile, and never extends its life.
	TouchSession(ctx context.Context, sess *Session, at time.Time) error
	// DeleteSessionsOf ends every live session of userID except exceptID (0: none), and
	// answers how many it ended; each session is ended, and counted, by one of concurrent
	// calls only. It also revokes every refresh token family of userID but exceptID's own, so
	// that no refresh token of an ended sign-in (even one whose access sessions have all
	// expired) can make a new session. It ends what was made before it started; a session
	// or family made while it runs survives it unless its credential was revoked before it
	// started (the user disabled, the password changed), which CreateSession checks: so a
	// revocation changes the credential first and calls DeleteSessionsOf second.
	DeleteSessionsOf(ctx context.Context, userID, exceptID int64) (int, error)
}
