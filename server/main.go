// Command authgraph serves the authgraph GraphQL API: sessions and user keys over GraphQL,
// stored in Redis (or, with no Redis configured, in an embedded in-process store). The same
// binary is a command-line client of the API (authgraph login, keys, sessions; see cli.go).
//
// This package is wiring only: the configuration (config.go), the store, limiter, hashing
// pool and service it implies (main.go, redis.go, limits.go, sessioncache.go, external.go),
// the HTTP layer's dependencies (httpdeps.go), and the listeners. The HTTP layer itself is
// internal/httpapi; the domain is internal/auth.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/cli"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/hashpool"
	"github.com/authgraph/authgraph/internal/httpapi"
	"github.com/authgraph/authgraph/internal/memstore"
	"github.com/authgraph/authgraph/internal/redisstore"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args, serve := serveArgs(os.Args[1:])
	if !serve || isHelp(args) { // a client or operator command, or help: see cli.go
		env := cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
		code := 0
		if serve {
			code = printHelp(ctx, env)
		} else {
			code = runCLI(ctx, os.Args, env)
		}
		stop()
		os.Exit(code)
	}
	if err := run(ctx, args, os.Getenv, os.Stdout, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "authgraph:", err)
		os.Exit(1)
	}
}

// run starts the server and blocks until ctx ends, then shuts down gracefully. ready, if not
// nil, is told the addresses it listens on (tests listen on port 0).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready func(listening)) error {
	cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(stdout, cfg.LogLevel)
	if cfg.Env == "production" && !cfg.CookieSecure {
		logger.Warn().Msg("cookies: AUTHGRAPH_COOKIE_SECURE=false in production, so COOKIE mode cookies are neither Secure nor " +
			"__Host- named (unless a request arrives over TLS here): a sibling subdomain can plant or shadow them, and plain HTTP carries them")
	}

	store, rdb, closeStore, err := openStore(cfg, logger)
	if err != nil {
		return err
	}
	defer closeStore()

	argon, err := argon2id.New(cfg.Argon2)
	if err != nil {
		return fmt.Errorf("argon2id: %w", err)
	}
	// At most HashWorkers hashes at once and HashQueue waiting; beyond that, 503 at once.
	// Its queue is exported as metrics.
	pool := hashpool.New(argon, cfg.HashWorkers, cfg.HashQueue)
	limiter, err := newLimiter(cfg, rdb)
	if err != nil {
		return fmt.Errorf("rate limits: %w", err)
	}
	logger.Info().Int("hash_workers", pool.Workers()).Int("hash_queue", pool.QueueSize()).
		Bool("rate_limits", !cfg.RateLimits.off).Msg("limits")
	acfg := cfg.authConfig()
	acfg.Limiter = limiter
	if acfg.External, err = newExternalVerifier(ctx, cfg, logger); err != nil {
		return err
	}
	if acfg.Passkeys, err = newPasskeyVerifier(cfg, logger); err != nil {
		return err
	}
	if acfg.SSO, err = newSSO(cfg, logger); err != nil {
		return err
	}
	// Background work (the mail queue's workers, the audit trail's writer, webhook
	// deliveries) has a Redis client of its own: it keeps connections in blocking reads, and
	// during an outage it keeps trying to reconnect; in the store's pool those failed dials
	// would mark the pool broken and fail the first requests after Redis is back.
	var bg redis.UniversalClient
	if rdb != nil {
		if bg, err = newRedisClient(cfg.RedisURL, cfg.RedisTimeout); err != nil {
			return err
		}
		defer bg.Close() // after the workers below have stopped (defers run last first)
	}
	mailer, err := newMailer(ctx, cfg, logger, bg)
	if err != nil {
		return err
	}
	acfg.Mailer = mailer
	trail, hooks, deliverer := newAuditTrailWithWebhooks(cfg, bg, logger)
	if trail != nil {
		acfg.Auditor = trail
		// Closed last: the listeners' last requests have recorded their events by then.
		defer closeAuditTrail(trail, logger)
	}
	if hooks != nil {
		acfg.Webhooks = hooks
		dctx, stopDeliveries := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { deliverer.Run(dctx); close(done) }()
		// Stopped before the trail's last batch is written (defers run last first): that
		// batch is queued in Redis for the other replicas, and a delivery cut short here is
		// taken over by one of them after its visibility timeout.
		defer func() { stopDeliveries(); <-done }()
	}
	meter, closeMeter := newKeyMeter(rdb, cfg.RedisPrefix+"km:")
	// Closed after the listeners drained (defers run last first): their last requests' usage
	// is written.
	defer closeMeter()
	acfg.ServiceKeyMeter = keyUsage{meter}
	svc := auth.NewService(store, pool, clock.Real{}, acfg)
	if trail != nil {
		trail.SetComplete(svc.CompleteAuditEvents)
	}
	mailer.start(svc.ExpandMail)
	// Stopped after the listeners drained, so that the mails their last requests queued
	// have had their chance in this replica (they are durable either way).
	defer mailer.stopAndWait()
	if !svc.EncryptsSecrets() {
		logger.Warn().Msg("totp: AUTHGRAPH_SECRET_KEY is not set, so TOTP secrets are stored unencrypted; " +
			"anyone who can read the store can make codes. Set it to base64 of 32 random bytes (openssl rand -base64 32)")
	}

	// The default account exists from the start. Redis may be down now: the server starts
	// anyway (see openStore), and the account is made when the first user is.
	if _, err := svc.EnsureDefaultAccount(ctx); err != nil {
		logger.Warn().Err(err).Msg("default account: not made yet")
	}

	if cfg.AdminUsername != "" {
		if why := auth.WeakPassword(cfg.AdminPassword, cfg.AdminUsername); why != "" {
			logger.Warn().Str("username", cfg.AdminUsername).Str("reason", why).
				Msg("bootstrap admin: AUTHGRAPH_ADMIN_PASSWORD fails the password policy; change it with changePassword")
		}
		made, err := svc.EnsureUser(ctx, cfg.AdminUsername, cfg.AdminPassword, auth.RoleAdmin)
		if err != nil {
			return fmt.Errorf("bootstrap admin %q: %w", cfg.AdminUsername, err)
		}
		logger.Info().Str("username", cfg.AdminUsername).Bool("created", made).Msg("bootstrap admin")
	}
	if err := ensureDevAdmin(ctx, cfg, svc, logger); err != nil {
		return err
	}

	deps, flush, err := newHTTPDeps(ctx, cfg, logger, svc, rdb, pool, limiter)
	if err != nil {
		return err
	}
	defer flush()
	deps.KeyMeter = meter

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	servers := []*http.Server{newHTTPServer(httpapi.New(deps), logger)}
	listeners := []net.Listener{ln}
	addrs := listening{API: ln.Addr().String()}
	if deps.Metrics != nil {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("metrics listener (AUTHGRAPH_METRICS_ADDR; AUTHGRAPH_METRICS=false turns metrics off): %w", err)
		}
		servers = append(servers, newHTTPServer(httpapi.MetricsHandler(cfg.MetricsToken, deps.Metrics), logger))
		listeners = append(listeners, mln)
		addrs.Metrics = mln.Addr().String()
		logger.Info().Str("addr", addrs.Metrics).Bool("token", cfg.MetricsToken != "").Msg("metrics: listening")
	} else {
		logger.Info().Msg("metrics: off")
	}
	logger.Info().Str("addr", addrs.API).Str("version", version).Msg("listening")
	if ready != nil {
		ready(addrs)
	}

	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	running := len(servers)
	var failed error
	select {
	case failed = <-errc: // a listener broke: stop the rest too
		running--
	case <-ctx.Done():
		logger.Info().Dur("timeout", cfg.ShutdownTimeout).Msg("shutting down: finishing requests in flight")
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// The API first, then the metrics, so that a scrape during the drain still answers.
	var shutdownErr error
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil && shutdownErr == nil {
			shutdownErr = err
		}
	}
	for ; running > 0; running-- {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) && failed == nil {
			failed = err
		}
	}
	switch {
	case failed != nil:
		return failed
	case shutdownErr != nil:
		return fmt.Errorf("shutdown: %w", shutdownErr)
	}
	logger.Info().Msg("stopped")
	return nil
}

// listening is where a started server listens: the API, and the metrics ("" when off).
type listening struct{ API, Metrics string }

// newHTTPServer bounds every phase of a connection, so that a slow or idle client cannot
// hold one forever.
func newHTTPServer(h http.Handler, logger zerolog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          newStdLogger(logger),
	}
}

// openStore picks Redis when a URL is configured, else the embedded store. It answers the
// Redis client too (nil for the embedded store) for the parts that share it.
func openStore(cfg Config, logger zerolog.Logger) (auth.Store, redis.UniversalClient, func(), error) {
	if cfg.RedisURL == "" {
		logger.Warn().Msg("store: embedded in-process store (no AUTHGRAPH_REDIS_URL); data is lost when the process exits")
		if cfg.RedisWaitReplicas > 0 {
			logger.Warn().Msg("store: AUTHGRAPH_REDIS_WAIT_REPLICAS is ignored without Redis")
		}
		return memstore.New(clock.Real{}), nil, func() {}, nil
	}
	redis.SetLogger(newRedisLogger(logger))
	rdb, err := newRedisClient(cfg.RedisURL, cfg.RedisTimeout)
	if err != nil {
		return nil, nil, nil, err
	}
	var store auth.Store = redisstore.New(rdb, redisstore.Options{Prefix: cfg.RedisPrefix, Clock: clock.Real{}})
	// Inside the session cache, so that a revocation answered 503 for want of replicas is
	// still published as one that may have happened.
	store = redisstore.WithReplicaWait(store, rdb, redisstore.ReplicaWait{
		Replicas: cfg.RedisWaitReplicas, Timeout: cfg.RedisWaitTimeout, Prefix: cfg.RedisPrefix,
	})
	if cfg.RedisWaitReplicas > 0 {
		logger.Info().Int("replicas", cfg.RedisWaitReplicas).Dur("timeout", cfg.RedisWaitTimeout).Msg("store: credential writes wait for replica acknowledgement")
	}
	pctx, cancel := context.WithTimeout(context.Background(), cfg.RedisTimeout)
	defer cancel()
	if err := store.Ping(pctx); err != nil {
		// Start anyway: /readyz reports it, and requests answer 503 until Redis is back.
		logger.Error().Err(err).Msg("store: Redis does not answer yet")
	}
	logger.Info().Msg("store: Redis")
	if cfg.SessionCacheTTL <= 0 || cfg.SessionCacheSize <= 0 {
		logger.Info().Msg("session cache: off")
		return store, rdb, func() { _ = rdb.Close() }, nil
	}
	cached := newSessionCache(store, rdb, cfg, logger)
	return cached, rdb, func() { _ = cached.Close(); _ = rdb.Close() }, nil
}
