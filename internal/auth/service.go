package auth

import (
	"context"
	"time"

	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/seal"
)

// Hasher hashes and verifies secrets (passwords, key secrets). internal/argon2id implements
// it. ctx lets an implementation bound concurrent hashing and give up when the caller does.
type Hasher interface {
	Hash(ctx context.Context, secret string) (string, error)
	// Verify reports whether secret matches encoded, and whether encoded was made with
	// parameters other than the current ones (so it should be replaced after a match).
	Verify(ctx context.Context, secret, encoded string) (ok, needsRehash bool, err error)
	// VerifyDummy does the work of a Verify against nothing, so that an unknown id costs
	// what a wrong secret costs.
	VerifyDummy(ctx context.Context, secret string)
}

// Config holds the service's tunables.
type Config struct {
	// SessionTTL is how long a session lasts (default 30 days).
	SessionTTL time.Duration
	// AccessTokenTTL, RefreshTokenTTL and RefreshGrace govern refreshable sessions; see
	// refresh.go for their defaults.
	AccessTokenTTL, RefreshTokenTTL, RefreshGrace time.Duration
	// SecretKey, if set, encrypts TOTP secrets at rest (AES-256-GCM); it must be seal.KeyLen
	// (32) bytes. Without it they are stored in plaintext.
	SecretKey []byte
	// Limiter guards the public credential mutations (see Attempt); nil means no limits.
	Limiter Limiter
	// External verifies tokens of external identity providers (external.go); nil turns
	// external sign-in off.
	External ExternalVerifier
	// IdleTimeout ends a session unused for that long, on top of SessionTTL; 0 turns it off.
	// It is enforced with the precision of lastUsedAt (LastUsedPrecision).
	IdleTimeout time.Duration
	// ReauthWindow is how recent a sign-in must be for sensitive changes (changing the
	// password, enabling or disabling TOTP); default 15 minutes.
	ReauthWindow time.Duration
	// UserKeyMaxTTL bounds the lifetime of new user keys; 0: keys may never expire.
	UserKeyMaxTTL time.Duration
	// EmailTokens tunes emailed tokens and codes (emailtokens.go); the zero value is the
	// defaults.
	EmailTokens EmailTokenConfig
}

// DefaultSessionTTL is the lifetime of a session when none is configured: 30 days.
const DefaultSessionTTL = 30 * 24 * time.Hour

// Service applies authgraph's rules. Transports call it; it calls the store and the hasher.
type Service struct {
	store  Store
	hasher Hasher
	clock  clock.Clock
	cfg    Config
	box    *seal.Box      // seals TOTP secrets
	touch  *touchThrottle // keeps lastUsedAt writes to one a minute per credential
}

// NewService wires a service. A zero TTL means its default; a negative RefreshGrace means no
// grace window. It panics if cfg.SecretKey is set but not 32 bytes: the server validates the
// key before it gets here. A zero ReauthWindow means DefaultReauthWindow.
func NewService(store Store, hasher Hasher, c clock.Clock, cfg Config) *Service {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.ReauthWindow <= 0 {
		cfg.ReauthWindow = DefaultReauthWindow
	}
	cfg = refreshDefaults(cfg)
	box, err := seal.New(cfg.SecretKey)
	if err != nil {
		panic("auth: NewService: " + err.Error())
	}
	return &Service{store: store, hasher: hasher, clock: c, cfg: cfg, box: box, touch: newTouchThrottle()}
}

// EncryptsSecrets reports whether TOTP secrets are encrypted at rest (Config.SecretKey set).
func (s *Service) EncryptsSecrets() bool { return s.box.Encrypts() }

// Now is the service's clock reading, for answers that depend on it (such as expiresIn).
func (s *Service) Now() time.Time { return s.clock.Now() }

// Ping reports whether the store answers.
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }
