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
	// DeleteKey removes the key if it exists and belongs to userID, and answers it; else
	// ErrNotFound. Of concurrent calls for one key, exactly one succeeds. No index entry is
	// left behind.
	DeleteKey(ctx context.Context, userID, id int64) (*UserKey, error)
}

// SessionStore keeps sessions, found by the digest of their token.
type SessionStore interface {
	// CreateSession assigns s.ID from a counter and saves s until s.ExpiresAt; ErrConflict if
	// a session with the same token digest exists (which 256 random bits make impossible
	// short of a bug).
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
	// Ping reports whether the backend answers.
	Ping(ctx context.Context) error
}
