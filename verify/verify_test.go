package verify_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/errmap"
	"github.com/authgraph/authgraph/internal/gid"
	"github.com/authgraph/authgraph/internal/redisstore"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/sessioncache"
	"github.com/authgraph/authgraph/internal/token"
	"github.com/authgraph/authgraph/verify"
)

// TestRecordVersionFollowsTheStore: a change of authgraph's session encoding must come with
// the verifier's RecordVersion (and docs/verify.md, which states it) following it.
func TestRecordVersionFollowsTheStore(t *testing.T) {
	if verify.RecordVersion != redisstore.SessionRecordVersion {
		t.Fatalf("authgraph's store writes session records of version %d, the verifier declares %d: check that the verifier still reads them as authgraph does, then update RecordVersion and docs/verify.md",
			redisstore.SessionRecordVersion, verify.RecordVersion)
	}
	doc, err := os.ReadFile("../docs/verify.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("record version %d", verify.RecordVersion); !strings.Contains(string(doc), want) {
		t.Errorf("docs/verify.md does not say %q", want)
	}
}

// world is authgraph's side (its store, behind its session cache, publishing invalidations)
// and a verifier on the same Redis, connected as the read-only user of docs/verify.md.
type world struct {
	srv   *redistest.Server
	store auth.Store            // what authgraph writes with
	cache *sessioncache.Store   // authgraph's cache, which publishes
	ro    redis.UniversalClient // the verifier's connection
	now   atomic.Pointer[time.Time]
}

func newWorld(t testing.TB) *world {
	t.Helper()
	srv := redistest.Start(t)
	w := &world{srv: srv}
	now := time.Now()
	w.now.Store(&now)
	st := redisstore.New(srv.Client, redisstore.Options{Prefix: srv.Prefix, Clock: clock.Real{}})
	w.cache = sessioncache.New(st, sessioncache.NewRedisBus(srv.Client, srv.Prefix+"inval", 0), sessioncache.Options{})
	t.Cleanup(func() { _ = w.cache.Close() })
	w.store = w.cache
	w.ro = readOnlyClient(t, srv)
	return w
}

// aclLine is the ACL SETUSER line of docs/verify.md, for prefix: the tests run the verifier
// as that user, so that the documented rights are enough and the verifier cannot write.
func aclLine(t testing.TB, prefix, user, password string) []any {
	t.Helper()
	doc, err := os.ReadFile("../docs/verify.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ACL SETUSER product-verifier on >PASSWORD (.*)$`).FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/verify.md has no line 'ACL SETUSER product-verifier on >PASSWORD …'")
	}
	args := []any{"ACL", "SETUSER", user, "on", ">" + password}
	for _, f := range strings.Fields(string(m[1])) {
		args = append(args, strings.ReplaceAll(f, "ag:", prefix))
	}
	return args
}

func readOnlyClient(t testing.TB, srv *redistest.Server) redis.UniversalClient {
	t.Helper()
	if srv.Cluster || srv.External {
		return srv.Client // ACL users are per node; a shared server is not ours to change
	}
	user, pw := "verifier-"+strings.TrimSuffix(srv.Prefix, ":"), "pw-"+srv.Prefix+"-long-enough"
	if err := srv.Client.Do(context.Background(), aclLine(t, srv.Prefix, user, pw)...).Err(); err != nil {
		t.Fatalf("ACL SETUSER from docs/verify.md: %v", err)
	}
	return srv.NewClient(func(o *redis.Options) { o.Username, o.Password = user, pw })
}

func (w *world) clock() time.Time { return *w.now.Load() }

func (w *world) advance(d time.Duration) {
	n := w.clock().Add(d)
	w.now.Store(&n)
}

func (w *world) verifier(t testing.TB, opts verify.Options) *verify.Verifier {
	t.Helper()
	opts.Prefix = w.srv.Prefix
	if opts.Now == nil {
		opts.Now = w.clock
	}
	v, err := verify.New(w.ro, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := v.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return v
}

func (w *world) user(t testing.TB, name string, role auth.Role) *auth.User {
	t.Helper()
	u := &auth.User{AccountID: 1, Username: name, PasswordHash: "$argon2id$not-a-real-hash", Role: role, CreatedAt: time.Now()}
	if err := w.store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// session saves a session of u as a sign-in would, and answers its token.
func (w *world) session(t testing.TB, u *auth.User, edit func(*auth.Session)) (string, *auth.Session) {
	t.Helper()
	tok, err := token.New(token.Session)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Millisecond)
	s := &auth.Session{
		UserID: u.ID, TokenDigest: token.Sum(tok), Method: auth.MethodPassword,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), AuthenticatedAt: now, UserAgent: "test", IP: "192.0.2.1",
	}
	if edit != nil {
		edit(s)
	}
	if err := w.store.CreateSession(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return tok, s
}

// TestVerifyReadsWhatAuthgraphWrites: the round trip of a session record, from authgraph's
// store to the verifier, for each kind of session.
func TestVerifyReadsWhatAuthgraphWrites(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	admin := w.user(t, "root", auth.RoleAdmin)
	member := w.user(t, "mem", auth.RoleMember)
	v := w.verifier(t, verify.Options{})

	tok, sess := w.session(t, admin, nil)
	p, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	want := verify.Principal{
		UserID: admin.ID, AccountID: 1, SessionID: sess.ID,
		UserGID: gid.Encode("User", admin.ID), AccountGID: gid.Encode("Account", 1), SessionGID: gid.Encode("Session", sess.ID),
		Username: "root", Role: "ADMIN",
		Scopes: []string{"read", "keys:write", "sessions:write", "account:write", "admin"}, FullRights: true, Method: "PASSWORD",
		CreatedAt: sess.CreatedAt, ExpiresAt: sess.ExpiresAt, AuthenticatedAt: sess.AuthenticatedAt,
	}
	if fmt.Sprint(p) != fmt.Sprint(want) {
		t.Errorf("admin sign-in:\n got %+v\nwant %+v", p, want)
	}
	if !p.IsAdmin() || !p.HasScope("admin") {
		t.Error("an admin's sign-in session should be admin and hold admin")
	}

	tok, _ = w.session(t, member, nil)
	p, err = v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.IsAdmin() || p.HasScope("admin") || !p.HasScope("account:write") || !p.FullRights {
		t.Errorf("member sign-in: %+v", p)
	}

	// A session made from a narrow key.
	k := &auth.UserKey{UserID: member.ID, Name: "k", SecretHash: "hash", CreatedAt: time.Now(), Scopes: []auth.Scope{auth.ScopeRead}}
	if err := w.store.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	tok, sess = w.session(t, member, func(s *auth.Session) {
		s.Method, s.UserKeyID, s.Scopes = auth.MethodUserKey, k.ID, []auth.Scope{auth.ScopeRead}
	})
	p, err = v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Scopes, []string{"read"}) || p.FullRights || p.Method != "USER_KEY" || p.SessionID != sess.ID || p.HasScope("keys:write") {
		t.Errorf("key session: %+v", p)
	}
}

// TestVerifyRefuses: every token authgraph would refuse, the verifier refuses, with the cache
// and without.
func TestVerifyRefuses(t *testing.T) {
	for _, cached := range []bool{true, false} {
		t.Run(fmt.Sprintf("cache=%v", cached), func(t *testing.T) {
			w := newWorld(t)
			ctx := context.Background()
			opts := verify.Options{IdleTimeout: 10 * time.Minute}
			if !cached {
				opts.CacheTTL = -1
			}
			v := w.verifier(t, opts)
			u := w.user(t, "alice", auth.RoleMember)
			refused := func(what, tok string) {
				t.Helper()
				if _, err := v.Verify(ctx, tok); !errors.Is(err, verify.ErrUnauthenticated) {
					t.Errorf("%s: got %v, want ErrUnauthenticated", what, err)
				}
			}
			unknown, _ := token.New(token.Session)
			refused("unknown token", unknown)
			refused("malformed token", "ag_s_not-a-token")
			refused("empty token", "")
			refresh, _ := token.New(token.Refresh)
			refused("a refresh token", refresh)

			tok, sess := w.session(t, u, nil)
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatalf("live session: %v", err)
			}
			// Revoked in authgraph (its cache publishes the end).
			if _, err := w.store.DeleteSession(ctx, u.ID, sess.ID); err != nil {
				t.Fatal(err)
			}
			eventually(t, func() bool { _, err := v.Verify(ctx, tok); return errors.Is(err, verify.ErrUnauthenticated) }, "revoked session")

			// Disabled, then deleted user.
			tok, _ = w.session(t, u, nil)
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
			if _, err := w.store.UpdateUser(ctx, u.ID, func(u *auth.User) error { u.Disabled = true; return nil }); err != nil {
				t.Fatal(err)
			}
			eventually(t, func() bool { _, err := v.Verify(ctx, tok); return errors.Is(err, verify.ErrUnauthenticated) }, "disabled user")
			if _, err := w.store.UpdateUser(ctx, u.ID, func(u *auth.User) error { u.Disabled = false; return nil }); err != nil {
				t.Fatal(err)
			}
			eventually(t, func() bool { _, err := v.Verify(ctx, tok); return err == nil }, "re-enabled user")

			// Expired, and idle, on the verifier's clock.
			w.advance(2 * time.Hour)
			refused("expired session", tok)
			w.advance(-2 * time.Hour)
			idle := 10*time.Minute + auth.LastUsedPrecision + time.Second
			w.advance(idle)
			refused("idle session", tok)
			w.advance(-idle)
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatalf("back in time: %v", err)
			}
			// The verifier deleted nothing (an idle session is refused, not ended) and
			// touched nothing.
			got, err := w.store.SessionByDigest(ctx, token.Sum(tok))
			if err != nil || got.LastUsedAt != nil {
				t.Errorf("the session after the verifier's checks: %+v, %v (want it untouched)", got, err)
			}

			if _, err := w.store.DeleteUser(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
			eventually(t, func() bool { _, err := v.Verify(ctx, tok); return errors.Is(err, verify.ErrUnauthenticated) }, "deleted user")
		})
	}
}

func eventually(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Errorf("%s: still accepted after a second", what)
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRevocationReachesTheVerifier measures how long a session ended in authgraph is still
// accepted by a product's verifier whose cache held it: the time from the end of
// authgraph's DeleteSession to the first refusal.
func TestRevocationReachesTheVerifier(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	v := w.verifier(t, verify.Options{})
	u := w.user(t, "bob", auth.RoleMember)
	const n = 200
	lags := make([]time.Duration, 0, n)
	for range n {
		tok, sess := w.session(t, u, nil)
		if _, err := v.Verify(ctx, tok); err != nil { // cached now
			t.Fatal(err)
		}
		if _, err := w.store.DeleteSession(ctx, u.ID, sess.ID); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for {
			_, err := v.Verify(ctx, tok)
			if errors.Is(err, verify.ErrUnauthenticated) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatal("a revoked session is still accepted after 5 s")
			}
			runtime.Gosched() // a sleep would round the figure up to the timer's granularity
		}
		lags = append(lags, time.Since(start))
	}
	slices.Sort(lags)
	p50, p99, worst := lags[n/2], lags[n*99/100-1], lags[n-1]
	t.Logf("revocation seen by the verifier after DeleteSession returned, over %d revocations: p50 %v, p99 %v, max %v", n, p50, p99, worst)
	if p99 > time.Second {
		t.Errorf("p99 %v: the verifier must see a revocation within the invalidation channel's bound", p99)
	}
}

// TestVerifierWithoutRedis: an outage is ErrUnavailable, never ErrUnauthenticated.
func TestVerifierWithoutRedis(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Blackhole(t), ReadTimeout: 50 * time.Millisecond, WriteTimeout: 50 * time.Millisecond, DialTimeout: 50 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	v, err := verify.New(rdb, verify.Options{CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := token.New(token.Session)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, verify.ErrUnavailable) || errors.Is(err, verify.ErrUnauthenticated) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

// TestCodesAreAuthgraphs: the verifier's refusals use authgraph's codes and messages.
func TestCodesAreAuthgraphs(t *testing.T) {
	for code, want := range map[auth.Code]string{
		auth.CodeUnauthenticated: "UNAUTHENTICATED", auth.CodeForbidden: "FORBIDDEN",
		auth.CodeUnavailable: "SERVICE_UNAVAILABLE", auth.CodeInvalidInput: "BAD_USER_INPUT", auth.CodeInternal: "INTERNAL_SERVER_ERROR",
	} {
		if got := errmap.GraphQL(code); got != want {
			t.Errorf("authgraph answers %s as %s; the verifier says %s: update verify's codes", code, got, want)
		}
	}
}

// TestDependenciesStaySmall: a product that embeds the verifier gets no password hashing,
// no GraphQL server, no HTTP layer of authgraph, nothing that writes the store but the store
// package itself (which the verifier only reads through).
func TestDependenciesStaySmall(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"golang.org/x/crypto/argon2", "internal/argon2id", "internal/hashpool", "authgraph/graph",
			"internal/httpapi", "internal/ratelimit", "internal/memstore", "gqlgen/graphql/handler",
			"prometheus", "internal/metrics",
		} {
			if strings.Contains(dep, banned) {
				t.Errorf("verify depends on %s", dep)
			}
		}
	}
}
