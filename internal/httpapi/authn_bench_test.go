package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/hashpool"
	"github.com/authgraph/authgraph/internal/keymeter"
	"github.com/authgraph/authgraph/internal/memstore"
	"github.com/authgraph/authgraph/internal/redisstore"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/sessioncache"
)

// The per-request cost of authentication, in process (no network, no Redis): the token
// check, digest, cached session and user lookups, and the context that carries the
// principal. make bench runs these with -benchmem; the allocations are what the auth
// middleware adds to every authenticated request.

// quietBus is a sessioncache.Bus that is always up and never hears anything: a single
// replica.
type quietBus struct{}

func (quietBus) Publish(context.Context, []byte) error { return nil }
func (quietBus) Run(ctx context.Context, l sessioncache.Listener) {
	l.Up()
	<-ctx.Done()
}

// benchService answers a service over store (nil: a session cache on the embedded store),
// its hash pool, and the token of a session of its user.
func benchService(b *testing.B, store auth.Store) (*auth.Service, *hashpool.Pool, string) {
	b.Helper()
	if store == nil {
		cached := sessioncache.New(memstore.New(clock.Real{}), quietBus{}, sessioncache.Options{})
		b.Cleanup(func() { _ = cached.Close() })
		if err := cached.WaitLive(b.Context()); err != nil {
			b.Fatal(err)
		}
		store = cached
	}
	hasher, err := argon2id.New(argon2id.DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	pool := hashpool.New(hasher, 0, -1)
	svc := auth.NewService(store, pool, clock.Real{}, auth.Config{})
	if _, err := svc.EnsureUser(b.Context(), "bench", "bench-password-1", auth.RoleMember); err != nil {
		b.Fatal(err)
	}
	s, err := svc.LoginPassword(b.Context(), "bench", "bench-password-1", "")
	if err != nil {
		b.Fatal(err)
	}
	return svc, pool, s.Token
}

// BenchmarkAuthenticateMiddleware is the auth middleware alone, for a valid token: on the
// embedded store behind the session cache (the cached path, without I/O), and on Redis
// without and with the cache (two GETs a request, against none).
func BenchmarkAuthenticateMiddleware(b *testing.B) {
	run := func(b *testing.B, store auth.Store) {
		svc, _, tok := benchService(b, store)
		h := authenticate(transportOptions{}, svc, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if auth.PrincipalFrom(r.Context()) == nil {
				b.Fatal("no principal")
			}
		}))
		r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
		r.Header.Set("x-auth-token", tok)
		// As logRequests would have it: the request's log fields, which the middleware fills in.
		r = r.WithContext(context.WithValue(r.Context(), notesKey{}, &requestNotes{}))
		w := httptest.NewRecorder()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			h.ServeHTTP(w, r)
		}
	}
	b.Run("cached", func(b *testing.B) { run(b, nil) })
	b.Run("redis", func(b *testing.B) {
		rs := redistest.Start(b)
		run(b, redisstore.New(rs.Client, redisstore.Options{Prefix: rs.Prefix}))
	})
	b.Run("redis-cached", func(b *testing.B) {
		rs := redistest.Start(b)
		cached := sessioncache.New(redisstore.New(rs.Client, redisstore.Options{Prefix: rs.Prefix}),
			sessioncache.NewRedisBus(rs.Client, rs.Prefix+"inval", 0), sessioncache.Options{})
		b.Cleanup(func() { _ = cached.Close() })
		if err := cached.WaitLive(b.Context()); err != nil {
			b.Fatal(err)
		}
		run(b, cached)
	})
}

// BenchmarkHandler is the whole HTTP handler (logging, CORS, body, client, auth, GraphQL)
// answering {version} without and with a token, and { me { id } }: the in-process share of
// what make bench measures over the network.
func BenchmarkHandler(b *testing.B) {
	svc, pool, tok := benchService(b, nil)
	d := testDeps(testConfig(), svc, pool) // as in production: metrics on
	d.Logger = zerolog.New(io.Discard)
	d.KeyMeter = keymeter.NewMemory(clock.Real{}, 1000)
	h := New(d)
	key, limitedKey := benchServiceKeys(b, svc)
	for _, bm := range []struct{ name, token, apiKey, query string }{
		{"version", "", "", `{"query":"{version}"}`},
		{"version-auth", tok, "", `{"query":"{version}"}`},
		{"me-auth", tok, "", `{"query":"{ me { id } }"}`},
		{"version-apikey", "", key, `{"query":"{version}"}`},
		{"version-apikey-limited", "", limitedKey, `{"query":"{version}"}`},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(bm.query))
				r.Header.Set("Content-Type", "application/json")
				if bm.token != "" {
					r.Header.Set("x-auth-token", bm.token)
				}
				if bm.apiKey != "" {
					r.Header.Set("x-api-key", bm.apiKey)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// benchServiceKeys makes a service account and two keys of it, one with a rate limit it
// never reaches, and answers their secrets.
func benchServiceKeys(b *testing.B, svc *auth.Service) (plain, limited string) {
	b.Helper()
	if _, err := svc.EnsureUser(b.Context(), "bench-admin", "bench-admin-password", auth.RoleAdmin); err != nil {
		b.Fatal(err)
	}
	s, err := svc.LoginPassword(b.Context(), "bench-admin", "bench-admin-password", "")
	if err != nil {
		b.Fatal(err)
	}
	p, err := svc.Authenticate(b.Context(), s.Token)
	if err != nil {
		b.Fatal(err)
	}
	admin := auth.WithPrincipal(b.Context(), p)
	sa, err := svc.CreateServiceAccount(admin, p.User.AccountID, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	k, err := svc.CreateServiceKey(admin, sa.ID, "plain", nil, nil, auth.ServiceKeyLimits{})
	if err != nil {
		b.Fatal(err)
	}
	l, err := svc.CreateServiceKey(admin, sa.ID, "limited", nil, nil, auth.ServiceKeyLimits{Rate: 1 << 30, RatePeriod: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	return k.Secret, l.Secret
}
