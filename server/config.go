package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/httpapi"
	"github.com/authgraph/authgraph/internal/oidc"
	"github.com/authgraph/authgraph/internal/seal"
	"github.com/authgraph/authgraph/internal/sso"
)

// Config is everything the server reads at start. Each field has an AUTHGRAPH_* variable and
// a flag of the same meaning; a flag wins over the variable. docs/operations.md's table lists them.
type Config struct {
	Addr         string
	RedisURL     string
	RedisTimeout time.Duration
	RedisPrefix  string
	// RedisWaitReplicas is how many replicas must acknowledge a write that creates or revokes
	// a credential before it is answered (0: none, Redis's asynchronous default), within
	// RedisWaitTimeout; see redisstore.WithReplicaWait.
	RedisWaitReplicas int
	RedisWaitTimeout  time.Duration
	AdminUsername     string
	AdminPassword     string
	SessionTTL        time.Duration
	IdleTimeout       time.Duration
	ReauthWindow      time.Duration
	UserKeyMaxTTL     time.Duration
	Playground        bool
	MaxBodyBytes      int64
	ShutdownTimeout   time.Duration
	LogLevel          string
	Argon2            argon2id.Params
	// Refreshable sessions and token transports.
	AccessTokenTTL, RefreshTokenTTL, RefreshGrace time.Duration
	CookieSecure, AllowQueryToken                 bool
	// SecretKey encrypts TOTP secrets at rest (AES-256-GCM); empty: they are stored as is.
	SecretKey []byte
	// Operations and clients: metrics, persisted queries, CORS.
	Metrics bool
	APQTTL  time.Duration
	// APQCacheBytes bounds each replica's persisted query cache.
	APQCacheBytes int
	CORS          httpapi.CORSPolicy
	AccountPage   bool
	Tracing       string
	// External identity providers (external.go): none turns external sign-in off.
	OIDCIssuers            []oidc.Issuer
	OIDCMinRefreshInterval time.Duration
	// Sign-in through an identity provider's authorization code flow (sso.go): none
	// turns it off.
	SSOProviders []sso.Config
	SSOFlowTTL   time.Duration
	// SessionCacheTTL and SessionCacheSize configure the in-process cache of verified
	// sessions (internal/sessioncache) in front of Redis; either 0 turns it off.
	SessionCacheTTL  time.Duration
	SessionCacheSize int64
	// TrustedProxies are the peers whose X-Forwarded-For names the client (internal/httpapi).
	TrustedProxies httpapi.TrustedProxies
	// Env is the deployment ("production" turns introspection and the playground off by
	// default).
	Env string
	// Introspection lets clients ask __schema and __type.
	Introspection bool
	// Limits on one GraphQL operation (internal/httpapi); MaxTokens bounds the parser.
	MaxDepth, MaxComplexity, MaxFields, MaxAliases, MaxTokens int
	// RateLimits are the limits on credential attempts (limits.go).
	RateLimits rateLimits
	// HashWorkers and HashQueue bound argon2id (internal/hashpool): at most HashWorkers
	// hashes at once (0: GOMAXPROCS) and HashQueue callers waiting (-1: twice the workers).
	HashWorkers, HashQueue int
	// Audit turns the audit trail on; AuditRetention is how long its events are kept
	// (Redis Streams trimmed by age; the embedded store keeps a bounded ring too).
	Audit          bool
	AuditRetention time.Duration
	// WebhookAllowPrivate lets webhooks reach loopback, private and link-local addresses.
	WebhookAllowPrivate bool

	// MetricsAddr is the metrics listener's address, apart from the API's; MetricsToken, if
	// set, is the bearer token a scrape must carry.
	MetricsAddr, MetricsToken string

	// Mail and self-service (mail.go): the base of every link in a mail, the SMTP server
	// ("" writes mails to the log), a directory of template overrides.
	PublicURL, SMTPURL, MailTemplates string
	// SignUp is the deployment's sign-up policy and email domain allow-list.
	SignUp auth.SignUpConfig
	// RequireVerifiedEmail refuses sign-in to users whose email is not verified.
	RequireVerifiedEmail bool
	// EmailTokenTTLs override the lifetimes of emailed tokens and codes.
	EmailTokenTTLs map[auth.TokenPurpose]time.Duration
	// IntrospectSecret turns token introspection on (POST /introspect): the shared secret
	// its callers send; empty: off.
	IntrospectSecret string
	// WebAuthnRPID and WebAuthnOrigins are the passkeys' relying party (passkeys.go); empty:
	// from PublicURL.
	WebAuthnRPID    string
	WebAuthnOrigins []string
}

type setting struct {
	env, flag, def, usage string
	set                   func(string) error
}

// loadConfig reads the environment (through getenv) and then args.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	c := Config{Argon2: argon2id.DefaultParams}
	// Read as text and checked after parsing: the flag package would quote a rejected value in
	// its error, and a mistyped key is still mostly the key.
	var secretKeyText string
	var introspection, playground, cookieSecure string
	var oidcIssuersText string
	var signUpText, signUpDomains, tokenTTLs string
	var ssoText string
	settings := []setting{
		{"AUTHGRAPH_ENV", "env", "", `deployment; "production" turns introspection and the playground off and the cookies Secure unless set`, str(&c.Env)},
		{"AUTHGRAPH_ADDR", "addr", "127.0.0.1:8080", "listen address", str(&c.Addr)},
		{"AUTHGRAPH_REDIS_URL", "redis-url", "", "Redis URL; empty: the embedded in-process store", str(&c.RedisURL)},
		{"AUTHGRAPH_REDIS_TIMEOUT", "redis-timeout", "2s", "bound on each Redis call", dur(&c.RedisTimeout)},
		{"AUTHGRAPH_REDIS_PREFIX", "redis-prefix", "ag:", "prefix of every Redis key authgraph writes", str(&c.RedisPrefix)},
		{"AUTHGRAPH_REDIS_WAIT_REPLICAS", "redis-wait-replicas", "0", "replicas that must acknowledge a credential write (WAIT) before it is answered; 0: off", nonNegativeInt(&c.RedisWaitReplicas)},
		{"AUTHGRAPH_REDIS_WAIT_TIMEOUT", "redis-wait-timeout", "100ms", "longest wait for those replicas; then 503", positiveDur(&c.RedisWaitTimeout)},
		{"AUTHGRAPH_ADMIN_USERNAME", "admin-username", "", "admin to create at start if no such user exists", str(&c.AdminUsername)},
		{"AUTHGRAPH_ADMIN_PASSWORD", "admin-password", "", "that admin's password (prefer the variable: flags show in ps)", str(&c.AdminPassword)},
		{"AUTHGRAPH_SESSION_TTL", "session-ttl", "720h", "session lifetime", dur(&c.SessionTTL)},
		{"AUTHGRAPH_SESSION_IDLE_TIMEOUT", "session-idle-timeout", "0", "end sessions unused for this long; 0: never", dur(&c.IdleTimeout)},
		{"AUTHGRAPH_REAUTH_WINDOW", "reauth-window", "15m", "how recent a sign-in sensitive changes need", dur(&c.ReauthWindow)},
		{"AUTHGRAPH_USER_KEY_MAX_TTL", "user-key-max-ttl", "0", "longest lifetime of a new user key; 0: unlimited", dur(&c.UserKeyMaxTTL)},
		{"AUTHGRAPH_PLAYGROUND", "playground", "", "serve the GraphQL playground at / (default: true, false in production)", optBool(&playground)},
		{"AUTHGRAPH_INTROSPECTION", "introspection", "", "answer introspection queries (default: true, false in production)", optBool(&introspection)},
		{"AUTHGRAPH_MAX_DEPTH", "max-depth", "15", "deepest GraphQL selection nesting", positiveInt(&c.MaxDepth)},
		{"AUTHGRAPH_MAX_COMPLEXITY", "max-complexity", "50000", "most GraphQL complexity (1 per field, a connection its page size times its selection)", positiveInt(&c.MaxComplexity)},
		{"AUTHGRAPH_MAX_FIELDS", "max-fields", "500", "most field selections in an operation, fragments expanded", positiveInt(&c.MaxFields)},
		{"AUTHGRAPH_MAX_ALIASES", "max-aliases", "30", "most aliased fields in an operation", positiveInt(&c.MaxAliases)},
		{"AUTHGRAPH_MAX_TOKENS", "max-tokens", "5000", "most lexical tokens in a GraphQL document", positiveInt(&c.MaxTokens)},
		{"AUTHGRAPH_MAX_BODY_BYTES", "max-body-bytes", "1048576", "largest request body accepted", integer(&c.MaxBodyBytes)},
		{"AUTHGRAPH_SHUTDOWN_TIMEOUT", "shutdown-timeout", "15s", "how long SIGTERM waits for requests in flight", dur(&c.ShutdownTimeout)},
		{"AUTHGRAPH_LOG_LEVEL", "log-level", "info", "debug, info, warn or error", str(&c.LogLevel)},
		{"AUTHGRAPH_ARGON2_MEMORY", "argon2-memory", "19456", "argon2id memory in KiB", uint32v(&c.Argon2.Memory)},
		{"AUTHGRAPH_ARGON2_TIME", "argon2-time", "2", "argon2id passes", uint32v(&c.Argon2.Time)},
		{"AUTHGRAPH_ARGON2_THREADS", "argon2-threads", "1", "argon2id lanes", uint8v(&c.Argon2.Threads)},
		{"AUTHGRAPH_ACCESS_TOKEN_TTL", "access-token-ttl", "15m", "access token lifetime of refreshable sessions", dur(&c.AccessTokenTTL)},
		{"AUTHGRAPH_REFRESH_TOKEN_TTL", "refresh-token-ttl", "720h", "refresh token lifetime, from each refresh", dur(&c.RefreshTokenTTL)},
		{"AUTHGRAPH_REFRESH_GRACE", "refresh-grace", "10s", "how long a rotated refresh token still answers the same new pair (0: not at all)", dur(&c.RefreshGrace)},
		{"AUTHGRAPH_COOKIE_SECURE", "cookie-secure", "", "COOKIE mode cookies are Secure and __Host- even without TLS here (TLS ends in front) (default: false, true in production)", optBool(&cookieSecure)},
		{"AUTHGRAPH_ALLOW_QUERY_TOKEN", "allow-query-token", "false", "accept ?access_token= (risky: URLs reach logs, history and Referer)", boolean(&c.AllowQueryToken)},
		{"AUTHGRAPH_SECRET_KEY", "secret-key", "", "base64 of 32 random bytes that encrypt TOTP secrets at rest (prefer the variable: flags show in ps)", str(&secretKeyText)},
		{"AUTHGRAPH_METRICS", "metrics", "true", "serve Prometheus metrics at /metrics on AUTHGRAPH_METRICS_ADDR", boolean(&c.Metrics)},
		{"AUTHGRAPH_METRICS_ADDR", "metrics-addr", "127.0.0.1:9464", "listen address of /metrics, apart from the API", str(&c.MetricsAddr)},
		{"AUTHGRAPH_METRICS_TOKEN", "metrics-token", "", "bearer token a scrape of /metrics must carry; empty: none (prefer the variable: flags show in ps)", str(&c.MetricsToken)},
		{"AUTHGRAPH_APQ_TTL", "apq-ttl", "24h", "how long an unused persisted query is kept", dur(&c.APQTTL)},
		{"AUTHGRAPH_APQ_CACHE_BYTES", "apq-cache-bytes", "4194304", "memory for persisted queries, per replica (in process, never Redis)", positiveInt(&c.APQCacheBytes)},
		{"AUTHGRAPH_ACCOUNT_PAGE", "account-page", "true", "serve the account page (sign-up, recovery, keys and sessions) at /account", boolean(&c.AccountPage)},
		{"AUTHGRAPH_TRACING", "tracing", "off", "OpenTelemetry tracing: off, or otlp (configured by the OTEL_* variables)", str(&c.Tracing)},
		{"AUTHGRAPH_CORS_ORIGINS", "cors-origins", "*", "origins browsers may call from: *, none, or a comma-separated list", corsv(&c.CORS)},
		{"AUTHGRAPH_OIDC_ISSUERS", "oidc-issuers", "", "JSON array of trusted OpenID Connect issuers for createSessionUsingExternalToken; empty: external login off", str(&oidcIssuersText)},
		{"AUTHGRAPH_OIDC_MIN_REFRESH_INTERVAL", "oidc-min-refresh-interval", "10s", "shortest time between two fetches of an issuer's JWKS", dur(&c.OIDCMinRefreshInterval)},
		{"AUTHGRAPH_SESSION_CACHE_TTL", "session-cache-ttl", "10s", "longest a replica trusts a cached session (Redis only; 0 turns the cache off)", dur(&c.SessionCacheTTL)},
		{"AUTHGRAPH_SESSION_CACHE_SIZE", "session-cache-size", "100000", "sessions (and users) cached per replica at most (0 turns the cache off)", integer(&c.SessionCacheSize)},
		{"AUTHGRAPH_RATE_LIMITS", "rate-limits", "", "credential attempt limits that differ from the defaults, rule=RATE/PERIOD[/BURST],…; or off", limitsv(&c.RateLimits)},
		{"AUTHGRAPH_HASH_WORKERS", "hash-workers", "0", "most argon2id hashes at once (0: one per CPU)", intRange(&c.HashWorkers, 0, 1<<16)},
		{"AUTHGRAPH_HASH_QUEUE", "hash-queue", "-1", "most logins waiting for a hashing worker; beyond it 503 at once (-1: twice the workers)", intRange(&c.HashQueue, -1, 1<<20)},
		{"AUTHGRAPH_PUBLIC_URL", "public-url", "", "base URL of every link in a mail, e.g. https://auth.example.com (default: http:// and the listen address)", str(&c.PublicURL)},
		{"AUTHGRAPH_SMTP_URL", "smtp-url", "", "SMTP server, smtp://user:pass@host:587 (STARTTLS) or smtps://…:465; empty: mails are written to the log (prefer the variable: flags show in ps)", str(&c.SMTPURL)},
		{"AUTHGRAPH_MAIL_TEMPLATES", "mail-templates", "", "directory whose mail templates replace the embedded ones", str(&c.MailTemplates)},
		{"AUTHGRAPH_SIGNUP", "signup", "CLOSED", "who may make users in accounts that set no policy: CLOSED (admins), INVITE (admins' invitations) or OPEN (anyone, signUp)", str(&signUpText)},
		{"AUTHGRAPH_SIGNUP_DOMAINS", "signup-domains", "", "comma-separated email domains an open sign-up accepts; empty: any", str(&signUpDomains)},
		{"AUTHGRAPH_REQUIRE_VERIFIED_EMAIL", "require-verified-email", "false", "refuse sign-in to users whose email is not verified yet", boolean(&c.RequireVerifiedEmail)},
		{"AUTHGRAPH_EMAIL_TOKEN_TTLS", "email-token-ttls", "", "lifetimes of emailed tokens that differ from the defaults, e.g. reset=1h,verify=24h,invite=168h,code=10m,change=24h", str(&tokenTTLs)},
		{"AUTHGRAPH_INTROSPECT_SECRET", "introspect-secret", "", "shared secret (32 bytes or more) that callers of POST /introspect send as Authorization: Bearer; empty: introspection off (prefer the variable: flags show in ps)", str(&c.IntrospectSecret)},
		{"AUTHGRAPH_AUDIT", "audit", "true", "record every security event in the audit trail (auditEvents, me.securityEvents)", boolean(&c.Audit)},
		{"AUTHGRAPH_AUDIT_RETENTION", "audit-retention", "2160h", "how long audit events are kept (2160h: 90 days); older ones are trimmed as new ones are written", dur(&c.AuditRetention)},
		{"AUTHGRAPH_WEBHOOK_ALLOW_PRIVATE", "webhook-allow-private", "false", "let webhooks reach loopback, private and link-local addresses (cloud metadata included): for tests and private networks only", boolean(&c.WebhookAllowPrivate)},
		{"AUTHGRAPH_WEBAUTHN_RP_ID", "webauthn-rp-id", "", "passkeys' relying party ID, the domain they are bound to (default: AUTHGRAPH_PUBLIC_URL's host; passkeys off if that is an IP address)", str(&c.WebAuthnRPID)},
		{"AUTHGRAPH_WEBAUTHN_ORIGINS", "webauthn-origins", "", "comma-separated origins passkey ceremonies may come from, each on the RP ID (default: AUTHGRAPH_PUBLIC_URL's origin)", originList(&c.WebAuthnOrigins)},
		{"AUTHGRAPH_TRUSTED_PROXIES", "trusted-proxies", "", "comma-separated addresses and CIDR blocks of proxies whose X-Forwarded-For is believed", proxies(&c.TrustedProxies)},
		{"AUTHGRAPH_SSO_PROVIDERS", "sso-providers", "", "JSON array of OpenID Connect providers for \"Sign in with …\" (/auth/{provider}/start) and createSessionUsingAuthorizationCode; empty: off (client secrets: prefer the variable, flags show in ps)", str(&ssoText)},
		{"AUTHGRAPH_SSO_FLOW_TTL", "sso-flow-ttl", "10m", "how long a sign-in at a provider may take between /auth/{provider}/start and its callback", dur(&c.SSOFlowTTL)},
	}
	fs := flag.NewFlagSet("authgraph", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { // -help: the flags alone; printHelp puts the commands around them
		fmt.Fprintln(fs.Output(), "SERVER FLAGS (authgraph [serve] [flags]; each is also read from the $VARIABLE named):")
		fs.PrintDefaults()
	}
	for _, s := range settings {
		def := s.def
		if v := getenv(s.env); v != "" {
			def = v
		}
		if err := s.set(def); err != nil {
			return c, fmt.Errorf("%s: %w", s.env, err)
		}
		usage := s.usage
		if s.def != "" { // the built-in default, never the environment's value: that may be a secret
			usage += " (default " + s.def + ")"
		}
		fs.Func(s.flag, usage+" ($"+s.env+")", s.set)
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.SessionTTL <= 0:
		return c, fmt.Errorf("AUTHGRAPH_SESSION_TTL must be positive")
	case c.Tracing != "off" && c.Tracing != "otlp":
		return c, fmt.Errorf("AUTHGRAPH_TRACING must be off or otlp")
	case c.APQTTL <= 0:
		return c, fmt.Errorf("AUTHGRAPH_APQ_TTL must be positive")
	case c.IdleTimeout != 0 && c.IdleTimeout < 2*auth.LastUsedPrecision:
		return c, fmt.Errorf("AUTHGRAPH_SESSION_IDLE_TIMEOUT must be 0 (off) or at least %s: lastUsedAt is kept to the minute", 2*auth.LastUsedPrecision)
	case c.ReauthWindow <= 0:
		return c, fmt.Errorf("AUTHGRAPH_REAUTH_WINDOW must be positive")
	case c.UserKeyMaxTTL < 0:
		return c, fmt.Errorf("AUTHGRAPH_USER_KEY_MAX_TTL must be 0 (unlimited) or positive")
	case c.MaxBodyBytes <= 0:
		return c, fmt.Errorf("AUTHGRAPH_MAX_BODY_BYTES must be positive")
	case c.AccessTokenTTL <= 0:
		return c, fmt.Errorf("AUTHGRAPH_ACCESS_TOKEN_TTL must be positive")
	case c.RefreshTokenTTL <= c.AccessTokenTTL:
		return c, fmt.Errorf("AUTHGRAPH_REFRESH_TOKEN_TTL must be longer than AUTHGRAPH_ACCESS_TOKEN_TTL")
	case c.RefreshGrace < 0 || c.RefreshGrace >= c.AccessTokenTTL:
		return c, fmt.Errorf("AUTHGRAPH_REFRESH_GRACE must be at least 0 and shorter than AUTHGRAPH_ACCESS_TOKEN_TTL")
	case c.OIDCMinRefreshInterval < 0:
		return c, fmt.Errorf("AUTHGRAPH_OIDC_MIN_REFRESH_INTERVAL must not be negative")
	case c.Audit && c.AuditRetention < time.Hour:
		return c, fmt.Errorf("AUTHGRAPH_AUDIT_RETENTION must be at least 1h (turn the trail off with AUTHGRAPH_AUDIT=false)")
	case c.SessionCacheTTL < 0 || c.SessionCacheSize < 0:
		return c, fmt.Errorf("AUTHGRAPH_SESSION_CACHE_TTL and AUTHGRAPH_SESSION_CACHE_SIZE must not be negative")
	case (c.AdminUsername == "") != (c.AdminPassword == ""):
		return c, fmt.Errorf("set both AUTHGRAPH_ADMIN_USERNAME and AUTHGRAPH_ADMIN_PASSWORD, or neither")
	case c.Metrics && !isHostPort(c.MetricsAddr):
		return c, fmt.Errorf("AUTHGRAPH_METRICS_ADDR must be host:port (turn metrics off with AUTHGRAPH_METRICS=false)")
	case c.IntrospectSecret != "" && len(c.IntrospectSecret) < httpapi.MinIntrospectSecret:
		// Not quoted, as the metrics token below.
		return c, fmt.Errorf("AUTHGRAPH_INTROSPECT_SECRET must be at least %d bytes (openssl rand -hex 32)", httpapi.MinIntrospectSecret)
	case c.MetricsToken != "" && len(c.MetricsToken) < minMetricsToken:
		// Not quoted: it is a secret, and a mistyped one is still mostly it.
		return c, fmt.Errorf("AUTHGRAPH_METRICS_TOKEN must be at least %d characters (openssl rand -hex 32)", minMetricsToken)
	}
	production := c.Env == "production"
	c.Playground = playground == "true" || playground == "" && !production
	c.Introspection = introspection == "true" || introspection == "" && !production
	// Production runs behind TLS: its cookies are Secure and __Host- unless the operator says
	// otherwise (run warns then).
	c.CookieSecure = cookieSecure == "true" || cookieSecure == "" && production
	if err := c.Argon2.Validate(); err != nil {
		return c, fmt.Errorf("argon2 parameters: %w", err)
	}
	if secretKeyText != "" {
		key, err := seal.ParseKey(secretKeyText)
		if err != nil {
			return c, fmt.Errorf("AUTHGRAPH_SECRET_KEY: %w", err)
		}
		c.SecretKey = key
	}
	issuers, err := parseIssuers(oidcIssuersText)
	if err != nil {
		return c, fmt.Errorf("AUTHGRAPH_OIDC_ISSUERS: %w", err)
	}
	c.OIDCIssuers = issuers
	if c.SSOProviders, err = parseSSOProviders(ssoText); err != nil {
		return c, fmt.Errorf("AUTHGRAPH_SSO_PROVIDERS: %w", err)
	}
	if c.SSOFlowTTL <= 0 || c.SSOFlowTTL > time.Hour {
		return c, fmt.Errorf("AUTHGRAPH_SSO_FLOW_TTL must be more than 0 and at most 1h")
	}
	if c.SignUp, err = parseSignUp(signUpText, signUpDomains); err != nil {
		return c, err
	}
	if c.EmailTokenTTLs, err = parseTokenTTLs(tokenTTLs); err != nil {
		return c, fmt.Errorf("AUTHGRAPH_EMAIL_TOKEN_TTLS: %w", err)
	}
	if c.PublicURL == "" {
		c.PublicURL = defaultPublicURL(c.Addr)
	}
	if _, _, err := passkeyConfig(c); err != nil {
		return c, err
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = auth.DefaultSessionTTL
	}
	return c, nil
}

// authConfig is the domain's part of the configuration.
func (c Config) authConfig() auth.Config {
	grace := c.RefreshGrace
	if grace == 0 {
		grace = -1 // the operator turned the window off; auth reads 0 as "default"
	}
	return auth.Config{
		SessionTTL: c.SessionTTL, AccessTokenTTL: c.AccessTokenTTL, RefreshTokenTTL: c.RefreshTokenTTL, RefreshGrace: grace, SecretKey: c.SecretKey,
		IdleTimeout: c.IdleTimeout, ReauthWindow: c.ReauthWindow, UserKeyMaxTTL: c.UserKeyMaxTTL,
		SignUp: c.SignUp, RequireVerifiedEmail: c.RequireVerifiedEmail,
		EmailTokens: auth.EmailTokenConfig{TTL: c.EmailTokenTTLs},
	}
}

// httpConfig is the HTTP layer's part.
func (c Config) httpConfig() httpapi.Config {
	return httpapi.Config{
		Version: version, CORS: c.CORS, TrustedProxies: c.TrustedProxies,
		MaxBodyBytes: c.MaxBodyBytes, RedisTimeout: c.RedisTimeout,
		CookieSecure: c.CookieSecure, AllowQueryToken: c.AllowQueryToken,
		Playground: c.Playground, AccountPage: c.AccountPage, Introspection: c.Introspection,
		MaxDepth: c.MaxDepth, MaxComplexity: c.MaxComplexity, MaxFields: c.MaxFields, MaxAliases: c.MaxAliases, MaxTokens: c.MaxTokens,
		IntrospectSecret: c.IntrospectSecret,
	}
}

func corsv(p *httpapi.CORSPolicy) func(string) error {
	return func(v string) error {
		c, err := httpapi.ParseCORS(v)
		if err != nil {
			return err
		}
		*p = c
		return nil
	}
}

// minMetricsToken is the shortest AUTHGRAPH_METRICS_TOKEN accepted: 16 random characters
// cannot be guessed over a network.
const minMetricsToken = 16

func isHostPort(v string) bool {
	_, port, err := net.SplitHostPort(v)
	return err == nil && port != ""
}

func str(p *string) func(string) error { return func(v string) error { *p = v; return nil } }

func dur(p *time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("not a duration (e.g. 720h, 30s): %q", v)
		}
		*p = d
		return nil
	}
}

func boolean(p *bool) func(string) error {
	return func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", v)
		}
		*p = b
		return nil
	}
}

func integer(p *int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", v)
		}
		*p = n
		return nil
	}
}

func uint32v(p *uint32) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return fmt.Errorf("not a whole number: %q", v)
		}
		*p = uint32(n)
		return nil
	}
}

func uint8v(p *uint8) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseUint(v, 10, 8)
		if err != nil {
			return fmt.Errorf("not a whole number up to 255: %q", v)
		}
		*p = uint8(n)
		return nil
	}
}

func proxies(p *httpapi.TrustedProxies) func(string) error {
	return func(v string) error {
		t, err := httpapi.ParseTrustedProxies(v)
		if err != nil {
			return err
		}
		*p = t
		return nil
	}
}

// optBool stores a boolean setting in its canonical form ("true"/"false"), or "" when it is
// not set, so that its default can depend on another setting.
func optBool(p *string) func(string) error {
	return func(v string) error {
		if v == "" {
			*p = ""
			return nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", v)
		}
		*p = strconv.FormatBool(b)
		return nil
	}
}

func nonNegativeInt(p *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("not a whole number: %q", v)
		}
		*p = n
		return nil
	}
}

func positiveDur(p *time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("not a positive duration (e.g. 100ms): %q", v)
		}
		*p = d
		return nil
	}
}

func positiveInt(p *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("not a positive integer: %q", v)
		}
		*p = n
		return nil
	}
}

func limitsv(p *rateLimits) func(string) error {
	return func(v string) error {
		l, err := parseRateLimits(v)
		if err != nil {
			return err
		}
		*p = l
		return nil
	}
}

func intRange(p *int, lo, hi int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("not a whole number from %d to %d: %q", lo, hi, v)
		}
		*p = n
		return nil
	}
}
