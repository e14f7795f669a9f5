package auth

import (
	"context"
	"time"

	"github.com/authgraph/authgraph/internal/token"
)

// The store interfaces are what the domain needs from persistence, one per area: users
// (UserStore), accounts (AccountStore, accounts.go), user keys (KeyStore), sessions
// (SessionStore), refresh token families (RefreshStore, refresh.go), second factors
// (TOTPStore, totp.go) and passkeys (PasskeyStore, passkeys.go). Store is their union,
// which the Redis adapter (internal/redisstore) and the embedded one (internal/memstore)
// implement and the conformance suite (internal/storetest) checks. A new area adds its interface and one line to Store.
//
// Every method returns ErrNotFound (wrapped) for a missing or expired record, ErrConflict for
// a taken unique value, and ErrUnavailable (wrapped) when the backend cannot be reached.
// Stores read time from an injected clock: a session whose expiry has passed on that clock is
// absent, whatever the backend's own TTL says. Expired user keys stay stored (and listed, so
// their owner can see and delete them); the service refuses to make sessions from them.
//
// Two rules bind several areas:
//   - CreateKey, CreateSession and CreateFamily answer ErrNotFound, and leave nothing behind,
//     when the user does not exist, also when DeleteUser removes the user while they run.
//     CreateSession, CreateFamily and Rotate answer the same when the user is disabled, or
//     the session's key or password is revoked, while they run (see CreateSession).
//   - Sessions are immutable once made, except for LastUsedAt (TouchSession).

// Store is everything the service persists, plus a health check.
type Store interface {
	UserStore
	AccountStore // accounts.go
	KeyStore
	SessionStore
	RefreshStore    // refresh.go
	TOTPStore       // totp.go
	BatchReader     // batch.go
	EmailTokenStore // emailtokens.go
	PasskeyStore    // passkeys.go
	IdentityStore   // identities.go
	ServiceKeyStore // serviceaccounts.go
	// Ping reports whether the backend answers.
	Ping(ctx context.Context) error
}

// UserStore keeps users.
type UserStore interface {
	// CreateUser assigns u.ID from a counter and saves u; ErrConflict if u.Username is taken
	// in u.AccountID (the same username may exist in other accounts).
	CreateUser(ctx context.Context, u *User) error
	User(ctx context.Context, id int64) (*User, error)
	// UserByUsername finds the user with that username (compared exactly) in an account.
	UserByUsername(ctx context.Context, accountID int64, username string) (*User, error)
	// AccountsWithUsername lists the ids of the accounts that have a user with that username,
	// ascending; none is not an error.
	AccountsWithUsername(ctx context.Context, username string) ([]int64, error)
	SetPasswordHash(ctx context.Context, id int64, hash string) error
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
	// RenameUser gives the user a new username within their account, and answers the user
	// as saved; ErrConflict if another user of the account has it (or is being given it),
	// ErrNotFound if there is no such user. The new name is claimed before the record carries
	// it and the old one released after the record drops it, so that of concurrent renames to
	// one name exactly one succeeds and a name is never held by two users; a claim left behind
	// by a call that failed half-way finds nobody (UserByUsername checks the record) but keeps
	// the name taken until it is released by hand.
	RenameUser(ctx context.Context, id int64, username string) (*User, error)
	// DeleteUser removes the user with everything that is theirs: username, keys, sessions,
	// refresh token families (with every refresh token they issued), second factor,
	// passkeys, linked identities, and every index entry. Of concurrent calls for one user
	// exactly one answers the user; the others answer ErrNotFound. A call that fails half-way leaves the user unusable (not
	// found), and a later DeleteUser of the same id finishes the cleanup.
	DeleteUser(ctx context.Context, id int64) (*User, error)
}

// KeyStore keeps user keys.
type KeyStore interface {
	// CreateKey assigns k.ID from a counter and saves k.
	CreateKey(ctx context.Context, k *UserKey) error
	Key(ctx context.Context, id int64) (*UserKey, error)
	// KeysOf lists a user's keys in ascending id order.
	KeysOf(ctx context.Context, userID int64) ([]*UserKey, error)
	SetKeyHash(ctx context.Context, id int64, hash string) error
	// UpdateKey is UpdateUser for keys.
	UpdateKey(ctx context.Context, id int64, edit func(*UserKey) error) (*UserKey, error)
	// DeleteKey revokes the key if it exists and belongs to userID, ends every session and
	// refresh token family made from it, removes it, and answers it; else ErrNotFound. No
	// index entry is left behind.
	//
	// It is atomic with the creation of the key's sessions (see CreateSession): no session
	// or family made from the key outlives a DeleteKey that succeeded, whatever the
	// interleaving. A call that fails part-way (ErrUnavailable) leaves the key revoked: not
	// found by Key, KeysOf or UpdateKey, so it makes no session, but still known to
	// DeleteKey, which finishes the work and answers the key. So every call that finds the
	// key, or its unfinished revocation, answers it (concurrent calls may all succeed), and
	// a caller retries until an answer other than ErrUnavailable.
	DeleteKey(ctx context.Context, userID, id int64) (*UserKey, error)
}

// SessionStore keeps sessions, found by the digest of their token.
type SessionStore interface {
	// CreateSession assigns s.ID from a counter and saves s until s.ExpiresAt; ErrConflict if
	// a session with the same token digest exists (which 256 random bits make impossible
	// short of a bug).
	//
	// It saves s only if the credentials s is made from still hold once it is saved: the
	// user exists and is not disabled; for s.UserKeyID, the key exists (not revoked) and is
	// the user's; for s.PasswordVersion, the user's PasswordVersion is still that. Else it
	// answers ErrNotFound and leaves nothing behind. This check is what makes every
	// revocation (DeleteKey, DeleteUser, disabling a user, changing a password then ending
	// sessions) atomic with the creations racing it: the revocation changes the credential
	// first and then ends the sessions it finds, and a creation writes its session where
	// that sweep looks first and checks the credential last, so one of the two sees the
	// other. CreateFamily and Rotate apply the same check to the sessions they make.
	CreateSession(ctx context.Context, s *Session) error
	SessionByDigest(ctx context.Context, d token.Digest) (*Session, error)
	// SessionsOf lists a user's live sessions in ascending id order.
	SessionsOf(ctx context.Context, userID int64) ([]*Session, error)
	// TouchSession records at as the LastUsedAt of sess (as read by SessionByDigest); it does
	// nothing if the session has ended meanwhile, and never extends its life.
	TouchSession(ctx context.Context, sess *Session, at time.Time) error
	// DeleteSession removes the session if it exists and belongs to userID, and answers it;
	// else ErrNotFound. Of concurrent calls for one session, exactly one succeeds.
	DeleteSession(ctx context.Context, userID, id int64) (*Session, error)
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
