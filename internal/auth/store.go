package auth

import (
	"context"

	"github.com/authgraph/authgraph/internal/token"
)

// The store interfaces below are what the domain needs from persistence. The Redis adapter
// (internal/redisstore) and the embedded one (internal/memstore) implement them and pass the
// same conformance suite (internal/storetest).
//
// Every method returns ErrNotFound (wrapped) for a missing or expired record, ErrConflict for
// a taken unique value, and ErrUnavailable (wrapped) when the backend cannot be reached.
// Stores read time from an injected clock: a session whose expiry has passed on that clock is
// absent, whatever the backend's own TTL says. Expired user keys stay stored (and listed, so
// their owner can see and delete them); the service refuses to make sessions from them.

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
}

// KeyStore keeps user keys.
type KeyStore interface {
	// CreateKey assigns k.ID from a counter and saves k.
	CreateKey(ctx context.Context, k *UserKey) error
	Key(ctx context.Context, id int64) (*UserKey, error)
	// KeysOf lists a user's keys in ascending id order.
	KeysOf(ctx context.Context, userID int64) ([]*UserKey, error)
	SetKeyHash(ctx context.Context, id int64, hash string) error
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
	// DeleteSession removes the session if it exists and belongs to userID, and answers it;
	// else ErrNotFound. Of concurrent calls for one session, exactly one succeeds.
	DeleteSession(ctx context.Context, userID, id int64) (*Session, error)
}

// Store is everything the service persists, plus a health check.
type Store interface {
	UserStore
	KeyStore
	SessionStore
	RefreshStore // refresh.go
	AccountStore // accounts.go
	TOTPStore    // totp.go
	LifecycleStore
	BatchReader // batch.go
	// EmailTokenStore: emailtokens.go.
	EmailTokenStore
	// Ping reports whether the backend answers.
	Ping(ctx context.Context) error
}
