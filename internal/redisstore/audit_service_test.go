package redisstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redistest"
)

// countHook counts the commands a client sends, those of pipelines included.
type countHook struct {
	mu    sync.Mutex
	names map[string]int
	n     atomic.Int64
}

func (h *countHook) note(cmds ...redis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.names == nil {
		h.names = map[string]int{}
	}
	for _, c := range cmds {
		h.names[c.Name()]++
	}
	h.n.Add(int64(len(cmds)))
}

func (h *countHook) reset() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.names
	h.names = map[string]int{}
	h.n.Store(0)
	return out
}

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.note(cmd); return next(ctx, cmd) }
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.note(cmds...); return next(ctx, cmds) }
}

// auditWorld is a service on Redis whose store and trail use two clients, each counted, so
// that what a request sends and what the trail's writer sends are told apart.
type auditWorld struct {
	svc           *auth.Service
	trail         *audit.Writer // nil: the trail is off
	store, writer *countHook
	admin, alice  context.Context
	alicePassword string
	aliceID       int64
}

func newAuditWorld(t testing.TB, srv *redistest.Server, prefix string, on bool, params argon2id.Params) *auditWorld {
	t.Helper()
	w := &auditWorld{store: &countHook{}, writer: &countHook{}}
	rdb := srv.NewClient(nil)
	rdb.AddHook(w.store)
	cfg := auth.Config{}
	if on {
		wrdb := srv.NewClient(nil)
		wrdb.AddHook(w.writer)
		w.trail = audit.NewWriter(NewAuditLog(wrdb, prefix, 0, clock.Real{}), audit.WriterOptions{})
		t.Cleanup(func() { _ = w.trail.Close(context.Background()) })
		cfg.Auditor = w.trail
	}
	h, err := argon2id.New(params)
	if err != nil {
		t.Fatal(err)
	}
	w.svc = auth.NewService(New(rdb, Options{Prefix: prefix}), h, clock.Real{}, cfg)
	if w.trail != nil {
		w.trail.SetComplete(w.svc.CompleteAuditEvents)
	}
	ctx := auth.WithClient(context.Background(), auth.ClientInfo{IP: "192.0.2.7", UserAgent: "test", Name: "t"})
	if _, err := w.svc.EnsureUser(ctx, "root", "root-password-long", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	w.admin = w.signIn(t, ctx, "root", "root-password-long")
	w.alicePassword = "alice-password-long"
	u, err := w.svc.CreateUser(w.admin, "alice", w.alicePassword, auth.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	w.aliceID = u.ID
	w.alice = w.signIn(t, ctx, "alice", w.alicePassword)
	w.flush(t)
	return w
}

func (w *auditWorld) signIn(t testing.TB, ctx context.Context, name, password string) context.Context {
	t.Helper()
	ns, err := w.svc.LoginPassword(ctx, name, password, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.svc.Authenticate(ctx, ns.Token)
	if err != nil {
		t.Fatal(err)
	}
	return auth.WithPrincipal(ctx, p)
}

func (w *auditWorld) flush(t testing.TB) {
	t.Helper()
	if w.trail != nil {
		if err := w.trail.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// An authenticated read costs the same Redis commands with the trail on as off, and the
// trail's writer sends nothing for it; a sign-in's request sends the same commands too, its
// event going out afterwards in the writer's pipeline.
func TestAuditAddsNoRedisCommandToTheRequest(t *testing.T) {
	srv := redistest.Start(t)
	cheap := argon2id.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	off := newAuditWorld(t, srv, srv.Prefix+"off:", false, cheap)
	on := newAuditWorld(t, srv, srv.Prefix+"on:", true, cheap)

	read := func(w *auditWorld) (store, writer map[string]int) {
		tok := auth.PrincipalFrom(w.alice).Token
		w.store.reset()
		w.writer.reset()
		for range 5 {
			p, err := w.svc.Authenticate(w.alice, tok)
			if err != nil {
				t.Fatal(err)
			}
			ctx := auth.WithPrincipal(w.alice, p)
			if _, err := w.svc.Me(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := w.svc.Sessions(ctx, w.aliceID); err != nil {
				t.Fatal(err)
			}
			if _, err := w.svc.UserKeys(ctx, w.aliceID); err != nil {
				t.Fatal(err)
			}
		}
		w.flush(t)
		return w.store.reset(), w.writer.reset()
	}
	offStore, _ := read(off)
	onStore, onWriter := read(on)
	if fmt.Sprint(offStore) != fmt.Sprint(onStore) || len(onWriter) != 0 {
		t.Fatalf("authenticated reads: store %v off, %v on; the trail's writer sent %v", offStore, onStore, onWriter)
	}
	t.Logf("5 authenticated reads: %v, trail on or off; the trail's writer sent nothing", onStore)

	signIn := func(w *auditWorld) (store, writer map[string]int) {
		w.store.reset()
		w.writer.reset()
		if _, err := w.svc.LoginPassword(w.alice, "alice", w.alicePassword, ""); err != nil {
			t.Fatal(err)
		}
		store = w.store.reset()
		w.flush(t)
		return store, w.writer.reset()
	}
	offStore, _ = signIn(off)
	onStore, onWriter = signIn(on)
	if fmt.Sprint(offStore) != fmt.Sprint(onStore) {
		t.Fatalf("a sign-in's request: %v off, %v on", offStore, onStore)
	}
	if onWriter["xadd"] != 2 {
		t.Fatalf("the sign-in's event: the writer sent %v, want 2 XADDs (account and user streams)", onWriter)
	}
	t.Logf("a sign-in's request: %v, trail on or off; then the writer: %v", onStore, onWriter)
}

// Sign-in failures are told apart in the trail, where the public answer is one.
func TestAuditSignInReasons(t *testing.T) {
	srv := redistest.Start(t)
	w := newAuditWorld(t, srv, srv.Prefix, true, argon2id.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	anon := auth.WithClient(context.Background(), auth.ClientInfo{IP: "198.51.100.9", UserAgent: "curl/8", Name: "probe"})
	for _, c := range []struct{ user, pass string }{{"alice", "wrong-password-x"}, {"nobody", "wrong-password-x"}} {
		if _, err := w.svc.LoginPassword(anon, c.user, c.pass, ""); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
			t.Fatalf("%s: %v", c.user, err)
		}
	}
	if _, err := w.svc.SetUserDisabled(w.admin, w.aliceID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.LoginPassword(anon, "alice", w.alicePassword, ""); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatal(err)
	}
	w.flush(t)
	mine, err := w.trail.List(context.Background(), audit.Query{Stream: audit.Stream{User: w.aliceID}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range mine.Events {
		got = append(got, fmt.Sprint(e.Type, "/", e.Outcome, "/", e.Reason, "/", e.ActorKind, "/", e.IP))
	}
	want := []string{
		"session.sign_in/failure/user_disabled/anonymous/198.51.100.9",
		"user.disabled/success//admin/192.0.2.7",
		"session.sign_in/failure/wrong_secret/anonymous/198.51.100.9",
		"session.sign_in/success//anonymous/192.0.2.7",
		"user.created/success//admin/192.0.2.7",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("alice's trail:\n%v\nwant\n%v", got, want)
	}
	unattributed, err := w.trail.List(context.Background(), audit.Query{Stream: audit.Stream{}, Limit: 100})
	if err != nil || len(unattributed.Events) != 1 || unattributed.Events[0].Reason != "unknown_user" || unattributed.Events[0].UserID != 0 {
		t.Fatalf("unattributed: %+v %v", unattributed, err)
	}
	acct, _ := w.trail.List(context.Background(), audit.Query{Stream: audit.Stream{Account: auth.PrincipalFrom(w.admin).User.AccountID}, Limit: 100})
	if len(acct.Events) < len(want) {
		t.Fatalf("the account's trail has %d events", len(acct.Events))
	}
}
