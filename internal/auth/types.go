package auth

import (
	"time"

	"github.com/authgraph/authgraph/internal/token"
)

// Role decides what a user may do beyond managing their own credentials.
type Role string

// Roles.
const (
	RoleAdmin Role = "ADMIN"
	// RoleAccountAdmin manages the users of their own account (managers.go), nothing
	// beyond it, and never an ADMIN.
	RoleAccountAdmin Role = "ACCOUNT_ADMIN"
	RoleMember       Role = "MEMBER"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r.rank() > 0 }

// AtLeast reports whether r has every power of o: ADMIN over ACCOUNT_ADMIN over MEMBER.
func (r Role) AtLeast(o Role) bool { return r.rank() >= o.rank() && o.rank() > 0 }

func (r Role) rank() int {
	switch r {
	case RoleAdmin:
		return 3
	case RoleAccountAdmin:
		return 2
	case RoleMember:
		return 1
	}
	return 0
}

// User is an account holder.
type User struct {
	ID           int64
	AccountID    int64  // the account (tenant) the user belongs to; see accounts.go
	Username     string // unique within the account
	PasswordHash string // argon2id PHC string; never leaves the domain
	Role         Role
	CreatedAt    time.Time
	// Disabled users can neither sign in nor use a session they still hold.
	Disabled bool
	// PasswordVersion counts the changes of the password (not the rehashes that keep it):
	// a password sign-in binds the session it makes to the version it verified, and the
	// store refuses to save that session under another (see SessionStore.CreateSession), so
	// no sign-in with the old password that is still running when the password changes can
	// finish. Every operation that sets a new password must bump it in the same update.
	PasswordVersion int64
	// PasswordChangedBy is the id of the session that last changed the password (0: none
	// since the user was made): only that session may finish a change that failed half-way
	// (see ChangePassword).
	PasswordChangedBy int64
	// Email is the user's address in NormalizeEmail's form ("" none), unique within the
	// account; only EmailTokenStore.SetEmail changes it (see email.go).
	Email string
	// EmailVerified says the user proved they read mail sent to Email.
	EmailVerified bool
}

// UserKey is an API credential a user makes for a program: an id plus a secret shown once.
type UserKey struct {
	ID         int64
	UserID     int64
	Name       string
	SecretHash string // argon2id PHC string of the secret
	CreatedAt  time.Time
	LastUsedAt *time.Time
	ExpiresAt  *time.Time
	// Scopes limit what the sessions made from the key may do; nil means the user's full
	// rights as a key may hold them (see EffectiveScopes).
	Scopes []Scope
	// SecretHint is the checksum suffix of the secret (see SecretHint): not secret, it only
	// tells LoginUserKey which of the current and the previous hash to verify.
	SecretHint string
	// After rerollUserKey, the previous secret keeps working until PreviousSecretExpiresAt.
	PreviousSecretHash      string
	PreviousSecretHint      string
	PreviousSecretExpiresAt *time.Time
}

// Expired reports whether the key can no longer make sessions at now.
func (k *UserKey) Expired(now time.Time) bool {
	return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)
}

// SessionMethod says how a session was made.
type SessionMethod string

// Session methods.
const (
	MethodPassword SessionMethod = "PASSWORD"
	MethodUserKey  SessionMethod = "USER_KEY"
	// MethodExternal: a token from an external identity provider (see external.go).
	MethodExternal SessionMethod = "EXTERNAL"
	// MethodEmailCode: a code from a sign-in mail (LoginEmailCode).
	MethodEmailCode SessionMethod = "EMAIL_CODE"
	// MethodPasskey: a passkey (LoginPasskey), which stands for both factors.
	MethodPasskey SessionMethod = "PASSKEY"
)

// Session is a signed-in client. Its token exists only in the answer that made it; the store
// keeps the token's SHA-256 digest.
type Session struct {
	ID            int64
	UserID        int64
	TokenDigest   token.Digest
	Method        SessionMethod
	UserKeyID     int64 // 0 unless Method is MethodUserKey
	Name          string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	LastUsedAt    *time.Time
	ClientName    string
	ClientVersion string
	UserAgent     string
	IP            string
	// FamilyID is the refresh token family the session belongs to (see Family); 0 for a
	// session that is not refreshable.
	FamilyID int64
	// Scopes limit what the session may do; nil means the user's full rights (a password or
	// external sign-in). A session made from a key carries the key's effective scopes.
	Scopes []Scope
	// AuthenticatedAt is when the user last proved a credential for this session: its
	// creation. RequireRecentAuthentication reads it; zero means never.
	AuthenticatedAt time.Time
	// PasswordVersion, set on a session that a password sign-in makes, is the user's
	// PasswordVersion that the sign-in verified: the store saves the session only if it is
	// still the user's. It is a condition of the creation, not part of the record: nil on
	// every session read back, and on the sessions of other sign-ins and of refreshes.
	PasswordVersion *int64
}

// Refreshable reports whether the session was made by a refreshable sign-in (or a refresh):
// ending it ends its whole family.
func (s *Session) Refreshable() bool { return s.FamilyID != 0 }

// Expired reports whether the session is over at now.
func (s *Session) Expired(now time.Time) bool { return !now.Before(s.ExpiresAt) }

// ClientInfo describes the client making a request; it is recorded on the sessions the
// request creates, and its IP keys the Limiter's counts. It travels in the context only
// (see WithClient): the transport puts it there, every domain entry point reads it there.
type ClientInfo struct {
	Name      string // apollographql-client-name
	Version   string // apollographql-client-version
	UserAgent string
	IP        string
}
