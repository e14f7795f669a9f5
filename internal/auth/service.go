package auth

import (
	"context"
	"time"

	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/seal"
	"github.com/authgraph/authgraph/internal/token"
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
	// Passkeys does the WebAuthn protocol work of passkeys (passkeys.go); nil turns
	// passkeys off.
	Passkeys PasskeyVerifier
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
	// Mailer queues the service's mail (mailer.go); nil: operations that mail fail with
	// SERVICE_UNAVAILABLE.
	Mailer Mailer
	// SignUp is the deployment's sign-up rule (signup.go); the zero value is CLOSED.
	SignUp SignUpConfig
	// RequireVerifiedEmail refuses sign-in (EMAIL_NOT_VERIFIED, after the credentials were
	// checked) to a user whose email is not verified yet; a user without an email is not
	// concerned.
	RequireVerifiedEmail bool
	// Auditor keeps the audit trail (audit.go); nil: no trail.
	Auditor Auditor
	// Webhooks keeps the webhook endpoints (webhooks.go); nil: webhooks are off.
	Webhooks WebhookStore
	// SSO is the providers of the authorization code flow (sso.go); none: off.
	SSO SSOConfig
	// ServiceKeyMeter reads and forgets service keys' usage (serviceaccounts.go); nil: none.
	ServiceKeyMeter ServiceKeyMeter
}

// DefaultSessionTTL is the lifetime of a session when none is configured: 30 days.
const DefaultSessionTTL = 30 * 24 * time.Hour

// Service applies authgraph's rules. Transports call it; it calls the store and the hasher.
//
// It reaches the store through one field per area, each typed by the interface below that
// lists the methods the service calls in that area and no more. NewService fills them all
// from one Store; a test or a decorator that cares about one area sees at a glance what the
// domain needs of it.
type Service struct {
	users      userStore
	accounts   accountStore
	keys       keyStore
	sessions   sessionStore
	families   familyStore
	factors    totpStore
	batches    BatchReader // list pages' rows, read many at once
	emails     EmailTokenStore
	passkeys   PasskeyStore
	identities IdentityStore
	// serviceKeys: service accounts and their keys (serviceaccounts.go).
	serviceKeys ServiceKeyStore
	health      pinger

	hasher Hasher
	clock  clock.Clock
	cfg    Config
	box    *seal.Box      // seals TOTP secrets
	touch  *touchThrottle // keeps lastUsedAt writes to one a minute per credential
}

// What the service calls of each area of the store. The rules of each method are those of
// its area's store interface (UserStore, AccountStore, KeyStore, SessionStore,
// RefreshStore, TOTPStore); the service does not call UserStore.SetPasswordHash or
// KeyStore.SetKeyHash. A method the service starts to call is added here, and NewService
// refuses (at compile time) a Store that lacks it.
type (
	userStore interface {
		CreateUser(ctx context.Context, u *User) error
		User(ctx context.Context, id int64) (*User, error)
		UserByUsername(ctx context.Context, accountID int64, username string) (*User, error)
		AccountsWithUsername(ctx context.Context, username string) ([]int64, error)
		UpdateUser(ctx context.Context, id int64, edit func(*User) error) (*User, error)
		ListUsers(ctx context.Context, after, before int64, limit int, fromEnd bool) ([]*User, error)
		CountUsers(ctx context.Context) (int, error)
		DeleteUser(ctx context.Context, id int64) (*User, error)
		RenameUser(ctx context.Context, id int64, username string) (*User, error)
	}
	accountStore interface {
		CreateAccount(ctx context.Context, a *Account) error
		Account(ctx context.Context, id int64) (*Account, error)
		AccountBySlug(ctx context.Context, slug string) (*Account, error)
		LastAccountID(ctx context.Context) (int64, error)
		UpdateAccount(ctx context.Context, id int64, edit func(*Account) error) (*Account, error)
		DeleteAccount(ctx context.Context, id int64) (*Account, error)
	}
	keyStore interface {
		CreateKey(ctx context.Context, k *UserKey) error
		Key(ctx context.Context, id int64) (*UserKey, error)
		KeysOf(ctx context.Context, userID int64) ([]*UserKey, error)
		UpdateKey(ctx context.Context, id int64, edit func(*UserKey) error) (*UserKey, error)
		DeleteKey(ctx context.Context, userID, id int64) (*UserKey, error)
	}
	sessionStore interface {
		CreateSession(ctx context.Context, s *Session) error
		SessionByDigest(ctx context.Context, d token.Digest) (*Session, error)
		SessionsOf(ctx context.Context, userID int64) ([]*Session, error)
		TouchSession(ctx context.Context, sess *Session, at time.Time) error
		DeleteSession(ctx context.Context, userID, id int64) (*Session, error)
		DeleteSessionsOf(ctx context.Context, userID, exceptID int64) (int, error)
	}
	familyStore interface {
		CreateFamily(ctx context.Context, f *Family, first *Session) error
		FamilyByRefreshDigest(ctx context.Context, d token.Digest) (*Family, error)
		Rotate(ctx context.Context, r *Rotation) (*RotationResult, error)
		RevokeFamily(ctx context.Context, userID, id int64) error
	}
	totpStore interface {
		SetPendingTOTP(ctx context.Context, userID int64, p *PendingTOTP) error
		PendingTOTP(ctx context.Context, userID int64) (*PendingTOTP, error)
		EnableTOTP(ctx context.Context, userID int64, secret []byte, step int64, recovery []token.Digest) error
		TOTP(ctx context.Context, userID int64) (*TOTP, error)
		UseTOTPStep(ctx context.Context, userID int64, step int64) error
		UseRecoveryCode(ctx context.Context, userID int64, d token.Digest) error
		DisableTOTP(ctx context.Context, userID int64) error
	}
	pinger interface {
		Ping(ctx context.Context) error
	}
)

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
	return &Service{
		users: store, accounts: store, keys: store, sessions: store, families: store,
		factors: store, batches: store, emails: store, passkeys: store, identities: store, serviceKeys: store, health: store,
		hasher: hasher, clock: c, cfg: cfg, box: box, touch: newTouchThrottle(),
	}
}

// EncryptsSecrets reports whether TOTP secrets are encrypted at rest (Config.SecretKey set).
func (s *Service) EncryptsSecrets() bool { return s.box.Encrypts() }

// Now is the service's clock reading, for answers that depend on it (such as expiresIn).
func (s *Service) Now() time.Time { return s.clock.Now() }

// Ping reports whether the store answers.
func (s *Service) Ping(ctx context.Context) error { return s.health.Ping(ctx) }
