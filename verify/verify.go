// Package verify lets a product's own Go server (net/http, chi, gqlgen…) accept authgraph's
// session tokens without a call to authgraph: it reads the sessions and users that authgraph
// writes in Redis, read-only, and checks them exactly as authgraph's Authenticate does.
//
//	v, err := verify.New(rdb, verify.Options{Prefix: "ag:"})
//	…
//	http.ListenAndServe(addr, v.Middleware(verify.RequireAuth(productHandler)))
//
// # What is checked
//
// A token is read from the request by authgraph's own rules (x-auth-token, Authorization:
// Bearer or a bare session token, the COOKIE mode session cookie under its CSRF rule; two
// different tokens, or a transport used twice, are refused), then, as authgraph does: its
// form and checksum; its session record (found, not expired); the idle timeout, when
// Options.IdleTimeout mirrors AUTHGRAPH_SESSION_IDLE_TIMEOUT; its user (found, not
// disabled). The access_token query parameter is never read.
//
// # Read-only
//
// The verifier sends GET on session (<prefix>t:*) and user (<prefix>u:*) keys, and SUBSCRIBE
// and PING on the invalidation channel (<prefix>inval): nothing else, never a write, so a
// session's lastUsedAt is not touched by a product's requests, and an idle session is
// refused but not deleted. docs/verify.md gives the Redis ACL of such a user; the tests run
// the verifier as that user.
//
// # Cache and revocation
//
// By default verified sessions and users are kept in process (internal/sessioncache, the
// cache authgraph's replicas use), with authgraph's invalidation channel subscribed: a
// product's check then costs no Redis round trip, and a session ended or a user disabled
// in authgraph is refused here within the same bound as on authgraph's replicas
// (milliseconds while the channel is up; while it is down the cache is bypassed; the cache
// TTL bounds a message lost without the connection failing).
//
// # Record format
//
// Sessions are a binary record whose version is RecordVersion. The verifier decodes them
// with authgraph's own decoder, so a product must build with an authgraph module at least as
// new as the authgraph it runs beside: a record of a newer version is refused
// (ErrUnsupportedRecord), never misread.
package verify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/gid"
	"github.com/authgraph/authgraph/internal/redisstore"
	"github.com/authgraph/authgraph/internal/reqtoken"
	"github.com/authgraph/authgraph/internal/sessioncache"
	"github.com/authgraph/authgraph/internal/token"
)

// RecordVersion is the version of authgraph's session record that this verifier reads (and
// every earlier one). TestRecordVersionFollowsTheStore fails when authgraph's store writes
// another.
const RecordVersion = 3

// Errors of Verify. An invalid token and a store outage are different answers: an outage
// must never be shown as a 401, or it signs everyone out.
var (
	// ErrUnauthenticated: the token is malformed, unknown, expired, idle, or its user is gone
	// or disabled. Which one is never said.
	ErrUnauthenticated = errors.New("verify: invalid or expired session token")
	// ErrUnavailable: Redis could not be asked; the token may well be valid.
	ErrUnavailable = errors.New("verify: session store unavailable")
	// ErrUnsupportedRecord: a record this verifier cannot read, probably written by a newer
	// authgraph (see RecordVersion).
	ErrUnsupportedRecord = errors.New("verify: session record not readable by this verifier")
)

// Options configures a Verifier. The zero value suits an authgraph with default settings.
type Options struct {
	// Prefix is authgraph's AUTHGRAPH_REDIS_PREFIX. Default "ag:".
	Prefix string
	// IdleTimeout is authgraph's AUTHGRAPH_SESSION_IDLE_TIMEOUT (0: none). It is a setting of
	// authgraph, not part of the record, so the product must be told the same value.
	IdleTimeout time.Duration
	// CacheTTL bounds how long a verified session or user is used from memory; default 10 s
	// (authgraph's AUTHGRAPH_SESSION_CACHE_TTL default). Negative turns the cache off: every
	// check costs two GETs, and the invalidation channel is not subscribed.
	CacheTTL time.Duration
	// CacheSize bounds the sessions (and, apart, users) kept; default 100000.
	CacheSize int
	// CookieSecure: authgraph's cookies are __Host- named (AUTHGRAPH_COOKIE_SECURE, on in
	// production), whether or not the request reached this process over TLS.
	CookieSecure bool
	// OnCacheEvent, if set, is told when the invalidation channel goes up ("up") or down
	// ("down", with the error): while it is down the cache is bypassed. It must not block.
	OnCacheEvent func(event string, err error)
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Principal is who a valid token speaks for.
type Principal struct {
	UserID, AccountID, SessionID int64
	// UserGID, AccountGID and SessionGID are the same ids in the form authgraph's API shows
	// (the GraphQL ID of User, Account and Session).
	UserGID, AccountGID, SessionGID string
	Username                        string
	Role                            string // "ADMIN", "ACCOUNT_ADMIN" or "MEMBER"
	// Scopes is what the session may do, spelled out (see HasScope). FullRights: a sign-in
	// session (password or external), which holds all its user may hold; a session made
	// from a user key holds the key's scopes only.
	Scopes     []string
	FullRights bool
	Method     string // how the session was made, as the API's Session.method: "PASSWORD", "USER_KEY"…
	// CreatedAt and ExpiresAt bound the session; AuthenticatedAt is when its user last
	// proved a credential for it (zero: never recorded).
	CreatedAt, ExpiresAt, AuthenticatedAt time.Time
}

// HasScope reports whether the session holds scope: one of Scopes. A sign-in session holds
// read, keys:write, sessions:write, account:write, and admin for an ADMIN or an
// ACCOUNT_ADMIN, whose admin manages only their own account's users: a product tells a
// deployment-wide admin by IsAdmin, never by HasScope("admin").
func (p Principal) HasScope(scope string) bool {
	for _, s := range p.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// IsAdmin reports whether the user is an admin of authgraph.
func (p Principal) IsAdmin() bool { return p.Role == string(auth.RoleAdmin) }

// Verifier checks session tokens against authgraph's Redis. It is safe for concurrent use;
// Close it to stop listening for invalidations.
type Verifier struct {
	sessions interface {
		SessionByDigest(ctx context.Context, d token.Digest) (*auth.Session, error)
		User(ctx context.Context, id int64) (*auth.User, error)
	}
	cache  *sessioncache.Store // nil when off
	now    func() time.Time
	idle   time.Duration
	tokens reqtoken.Options
}

// New returns a verifier on rdb, which the caller keeps and closes (after Close). It does not
// wait for Redis: until the invalidation channel is subscribed, checks go to Redis directly
// (WaitReady waits for the cache).
func New(rdb redis.UniversalClient, opts Options) (*Verifier, error) {
	if rdb == nil {
		return nil, errors.New("verify: New needs a Redis client")
	}
	if opts.IdleTimeout < 0 {
		return nil, errors.New("verify: IdleTimeout must not be negative")
	}
	if opts.Prefix == "" {
		opts.Prefix = "ag:"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	clk := clockFunc(opts.Now)
	store := redisstore.New(rdb, redisstore.Options{Prefix: opts.Prefix, Clock: clk})
	v := &Verifier{sessions: store, now: opts.Now, idle: opts.IdleTimeout, tokens: reqtoken.Options{CookieSecure: opts.CookieSecure}}
	if opts.CacheTTL >= 0 {
		onEvent := opts.OnCacheEvent
		// The bus only subscribes: the verifier never calls a store method that publishes.
		v.cache = sessioncache.New(store, sessioncache.NewRedisBus(rdb, opts.Prefix+"inval", 0), sessioncache.Options{
			TTL: opts.CacheTTL, Size: opts.CacheSize, Clock: clk,
			OnEvent: func(e sessioncache.Event, err error) {
				if onEvent != nil && (e == sessioncache.EventUp || e == sessioncache.EventDown) {
					onEvent(e.String(), err)
				}
			},
		})
		v.sessions = v.cache
	}
	return v, nil
}

// clockFunc adapts Options.Now to the store's clock.
type clockFunc func() time.Time

var _ clock.Clock = clockFunc(nil)

func (f clockFunc) Now() time.Time { return f() }

// WaitReady waits until the cache is in use (the invalidation channel subscribed), or ctx
// ends; with the cache off it answers at once. Checks work before it too, through Redis.
func (v *Verifier) WaitReady(ctx context.Context) error {
	if v.cache == nil {
		return nil
	}
	return v.cache.WaitLive(ctx)
}

// Close stops listening on the invalidation channel. It does not close the Redis client.
func (v *Verifier) Close() error {
	if v.cache != nil {
		return v.cache.Close()
	}
	return nil
}

// Verify checks a session token as authgraph's Authenticate does, without writing anything.
// It answers ErrUnauthenticated for any token that is not valid now, an error wrapping
// ErrUnavailable when Redis cannot be asked, and ErrUnsupportedRecord for a record it cannot
// read.
func (v *Verifier) Verify(ctx context.Context, tok string) (Principal, error) {
	if token.Check(token.Session, tok) != nil {
		return Principal{}, ErrUnauthenticated
	}
	sess, err := v.sessions.SessionByDigest(ctx, token.Sum(tok))
	if err != nil {
		return Principal{}, storeError(err)
	}
	now := v.now()
	if sess.Expired(now) || auth.IdleExpired(sess, now, v.idle) {
		return Principal{}, ErrUnauthenticated
	}
	u, err := v.sessions.User(ctx, sess.UserID)
	if err != nil {
		return Principal{}, storeError(err)
	}
	if !auth.UserMayUseSessions(u) {
		return Principal{}, ErrUnauthenticated
	}
	return principal(u, sess), nil
}

// storeError sorts a store error into Verify's.
func storeError(err error) error {
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return ErrUnauthenticated
	case errors.Is(err, auth.ErrUnavailable):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return fmt.Errorf("%w (this verifier reads records up to version %d): %w", ErrUnsupportedRecord, RecordVersion, err)
}

func principal(u *auth.User, sess *auth.Session) Principal {
	held := auth.HeldScopes(sess, u.Role)
	scopes := make([]string, len(held))
	for i, s := range held {
		scopes[i] = string(s)
	}
	return Principal{
		UserID: u.ID, AccountID: u.AccountID, SessionID: sess.ID,
		UserGID: encodeGID("User", u.ID), AccountGID: encodeGID("Account", u.AccountID), SessionGID: encodeGID("Session", sess.ID),
		Username: u.Username, Role: string(u.Role),
		Scopes: scopes, FullRights: sess.Scopes == nil, Method: string(sess.Method),
		CreatedAt: sess.CreatedAt, ExpiresAt: sess.ExpiresAt, AuthenticatedAt: sess.AuthenticatedAt,
	}
}

// encodeGID is gid.Encode, "" for an id that is not positive (which Encode refuses).
func encodeGID(typ string, n int64) string {
	if n <= 0 {
		return ""
	}
	return gid.Encode(typ, n)
}
