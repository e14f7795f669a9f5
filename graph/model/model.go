// Package model holds the GraphQL types that are not domain types as they are: the generated
// connection and input types, and wrappers that add what only one answer may show.
package model

import (
	"sync"

	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// UserKey is a domain key plus its secret, which only createUserKey's answer carries.
type UserKey struct {
	auth.UserKey
	Secret *string
}

// ServiceKey is a domain service key plus its secret, which only the answer that made or
// rerolled it carries.
type ServiceKey struct {
	auth.ServiceKey
	Secret *string
	// Meter memoises the key's lastUsedAt and quotaRemaining for one answer: both come from
	// one read of the meter.
	Meter MeterMemo
}

// MeterMemo is one read of a key's meter, made at most once.
type MeterMemo struct {
	Once  sync.Once
	Usage *auth.ServiceKeyUsage
	Err   error
}

// Session is a domain session plus its token, which only the answer that made (or ended) it
// carries, and for a refreshable session its refresh token, which only the answer that made
// it carries.
type Session struct {
	auth.Session
	Token                 *string
	RefreshToken          *string
	RefreshTokenExpiresAt *time.Time
}

// Node is the Go side of the Node interface: User (auth.User), Account (auth.Account), UserKey
// and Session.
type Node interface{}
