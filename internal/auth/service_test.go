package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/memstore"
	"github.com/authgraph/authgraph/internal/token"
)

var fastParams = argon2id.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// countingHasher counts the argon2 work done, to prove unknown ids cost a verify too.
type countingHasher struct {
	*argon2id.Hasher
	verifies, dummies atomic.Int32
}

func (h *countingHasher) Verify(ctx context.Context, secret, encoded string) (bool, bool, error) {
	h.verifies.Add(1)
	return h.Hasher.Verify(ctx, secret, encoded)
}

func (h *countingHasher) VerifyDummy(ctx context.Context, secret string) {
	h.dummies.Add(1)
	h.Hasher.VerifyDummy(ctx, secret)
}

type fixture struct {
	svc    *auth.Service
	store  *memstore.Store
	clock  *clock.Fake
	hasher *countingHasher
}

func newFixture(t *testing.T, p argon2id.Params) *fixture {
	t.Helper()
	h, err := argon2id.New(p)
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewFake(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	st := memstore.New(c)
	ch := &countingHasher{Hasher: h}
	f := &fixture{svc: auth.NewService(st, ch, c, auth.Config{SessionTTL: time.Hour}), store: st, clock: c, hasher: ch}
	if _, err := f.svc.EnsureUser(context.Background(), "admin", "admin-password", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	return f
}

// as signs username in and answers a context carrying their principal.
func (f *fixture) as(t *testing.T, username, password string) context.Context {
	t.Helper()
	ctx := context.Background()
	ns, err := f.svc.LoginPassword(ctx, username, password, "")
	if err != nil {
		t.Fatalf("login %s: %v", username, err)
	}
	p, err := f.svc.Authenticate(ctx, ns.Token)
	if err != nil {
		t.Fatal(err)
	}
	return auth.WithPrincipal(ctx, p)
}

func code(err error) auth.Code { return auth.ErrorCode(err) }

func TestLoginPassword(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	if _, err := f.svc.CreateUser(admin, "dave", "dave-password", ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, pass string
		want             auth.Code
		dummy            bool
	}{
		{"right password", "dave", "dave-password", "", false},
		{"wrong password", "dave", "dave-passwore", auth.CodeInvalidCredentials, false},
		{"unknown user", "erin", "dave-password", auth.CodeInvalidCredentials, true},
		{"case matters", "Dave", "dave-password", auth.CodeInvalidCredentials, true},
		{"huge password", "dave", strings.Repeat("x", 1<<20), auth.CodeInvalidCredentials, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.hasher.dummies.Load()
			ns, err := f.svc.LoginPassword(context.Background(), tt.user, tt.pass, "")
			if code(err) != tt.want {
				t.Fatalf("code %q, want %q (%v)", code(err), tt.want, err)
			}
			if tt.want == "" && (ns == nil || token.Check(token.Session, ns.Token) != nil) {
				t.Fatalf("no well-formed token: %+v", ns)
			}
			if tt.want != "" && err.Error() != (&auth.Error{Code: tt.want, Message: auth.MsgInvalidCredentials}).Error() {
				t.Fatalf("message differs between failures: %v", err)
			}
			if got := f.hasher.dummies.Load() - before; (got == 1) != tt.dummy {
				t.Fatalf("dummy verifies: %d, want dummy=%v", got, tt.dummy)
			}
		})
	}
}

func TestSessionStoredAsDigestAndExpires(t *testing.T) {
	f := newFixture(t, fastParams)
	ctx := context.Background()
	ns, err := f.svc.LoginPassword(auth.WithClient(ctx, auth.ClientInfo{Name: "cli", Version: "1", UserAgent: "curl", IP: "127.0.0.1"}), "admin", "admin-password", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if ns.Session.TokenDigest != token.Sum(ns.Token) {
		t.Fatal("session is not keyed by the token's SHA-256")
	}
	got, err := f.store.SessionByDigest(ctx, token.Sum(ns.Token))
	if err != nil || got.ClientName != "cli" || got.Name != "laptop" || got.IP != "127.0.0.1" {
		t.Fatalf("stored session %+v, %v", got, err)
	}
	if !got.ExpiresAt.Equal(got.CreatedAt.Add(time.Hour)) {
		t.Fatalf("expiresAt %v, createdAt %v: want the configured TTL", got.ExpiresAt, got.CreatedAt)
	}
	f.clock.Advance(59 * time.Minute)
	if _, err := f.svc.Authenticate(ctx, ns.Token); err != nil {
		t.Fatalf("session ended early: %v", err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.svc.Authenticate(ctx, ns.Token); code(err) != auth.CodeUnauthenticated {
		t.Fatalf("expired session: %v", err)
	}
}

func TestAuthenticateRejects(t *testing.T) {
	f := newFixture(t, fastParams)
	refresh, _ := token.New(token.Refresh)
	unknown, _ := token.New(token.Session)
	for _, tok := range []string{"", "garbage", refresh, unknown} {
		if _, err := f.svc.Authenticate(context.Background(), tok); code(err) != auth.CodeUnauthenticated {
			t.Fatalf("Authenticate(%.8q…) = %v", tok, err)
		}
	}
}

func TestUserKeyLifecycle(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	if _, err := f.svc.CreateUser(admin, "frank", "frank-password", ""); err != nil {
		t.Fatal(err)
	}
	frank := f.as(t, "frank", "frank-password")
	bg := context.Background()

	expires := f.clock.Now().Add(2 * time.Hour)
	nk, err := f.svc.CreateUserKey(frank, "ci", &expires)
	if err != nil {
		t.Fatal(err)
	}
	if token.Check(token.UserKeySecret, nk.Secret) != nil || strings.Contains(nk.Key.SecretHash, nk.Secret) {
		t.Fatalf("bad secret or secret kept in clear: %+v", nk.Key)
	}
	if !strings.HasPrefix(nk.Key.SecretHash, "$argon2id$v=19$") {
		t.Fatalf("secret hash %q is not argon2id PHC", nk.Key.SecretHash)
	}

	before := f.hasher.dummies.Load()
	if _, err := f.svc.LoginUserKey(bg, nk.Key.ID+100, nk.Secret, ""); code(err) != auth.CodeInvalidCredentials {
		t.Fatalf("unknown key: %v", err)
	}
	if f.hasher.dummies.Load() != before+1 {
		t.Fatal("an unknown key id did not cost a dummy verify")
	}
	if _, err := f.svc.LoginUserKey(bg, nk.Key.ID, nk.Secret+"x", ""); code(err) != auth.CodeInvalidCredentials {
		t.Fatalf("wrong secret: %v", err)
	}
	ks, err := f.svc.LoginUserKey(bg, nk.Key.ID, nk.Secret, "job")
	if err != nil {
		t.Fatal(err)
	}
	if ks.Session.Method != auth.MethodUserKey || ks.Session.UserKeyID != nk.Key.ID {
		t.Fatalf("key session %+v", ks.Session)
	}

	// Someone else's key is not found, never forbidden.
	if _, err := f.svc.DeleteUserKey(admin, nk.Key.ID); code(err) != auth.CodeNotFound {
		t.Fatalf("admin deleting frank's key: %v", err)
	}
	if _, err := f.svc.UserKeys(f.as(t, "admin", "admin-password"), nk.Key.UserID); err != nil {
		t.Fatalf("admins may list anyone's keys: %v", err)
	}

	// An expired key makes no session.
	f.clock.Advance(3 * time.Hour)
	if _, err := f.svc.LoginUserKey(bg, nk.Key.ID, nk.Secret, ""); code(err) != auth.CodeInvalidCredentials {
		t.Fatalf("expired key: %v", err)
	}

	// Deleting a key ends the sessions made from it.
	f.clock.Set(f.clock.Now().Add(-3 * time.Hour))
	if _, err := f.svc.DeleteUserKey(frank, nk.Key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(bg, ks.Token); code(err) != auth.CodeUnauthenticated {
		t.Fatalf("session of a deleted key: %v", err)
	}
	if _, err := f.svc.DeleteUserKey(frank, nk.Key.ID); code(err) != auth.CodeNotFound {
		t.Fatalf("deleting twice: %v", err)
	}
}

func TestCreateUserRules(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	if _, err := f.svc.CreateUser(admin, "gina", "gina-password", ""); err != nil {
		t.Fatal(err)
	}
	gina := f.as(t, "gina", "gina-password")
	tests := []struct {
		name       string
		ctx        context.Context
		user, pass string
		role       auth.Role
		want       auth.Code
	}{
		{"anonymous", context.Background(), "h", "h-long-password", "", auth.CodeUnauthenticated},
		{"a member", gina, "h", "h-long-password", "", auth.CodeForbidden},
		{"taken", admin, "gina", "h-long-password", "", auth.CodeConflict},
		{"empty name", admin, "", "h-long-password", "", auth.CodeInvalidInput},
		{"spaces around", admin, " h", "h-long-password", "", auth.CodeInvalidInput},
		{"too long", admin, strings.Repeat("h", 65), "h-long-password", "", auth.CodeInvalidInput},
		{"empty password", admin, "h", "", "", auth.CodeInvalidInput},
		{"password too long", admin, "h", strings.Repeat("p", 129), "", auth.CodeInvalidInput},
		{"unknown role", admin, "h", "h-long-password", "ROOT", auth.CodeInvalidInput},
		{"an admin", admin, "ivan", "ivan-password", auth.RoleAdmin, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := f.svc.CreateUser(tt.ctx, tt.user, tt.pass, tt.role)
			if code(err) != tt.want {
				t.Fatalf("code %q, want %q (%v)", code(err), tt.want, err)
			}
			if err == nil && (u.Role != tt.role || u.PasswordHash == tt.pass) {
				t.Fatalf("user %+v", u)
			}
		})
	}
}

func TestPasswordRehashedWhenParamsChange(t *testing.T) {
	old := newFixture(t, fastParams)
	u, err := old.store.UserByUsername(context.Background(), 1, "admin")
	if err != nil {
		t.Fatal(err)
	}
	stronger := fastParams
	stronger.Time = 2
	h, _ := argon2id.New(stronger)
	svc := auth.NewService(old.store, h, old.clock, auth.Config{})
	if _, err := svc.LoginPassword(context.Background(), "admin", "admin-password", ""); err != nil {
		t.Fatal(err)
	}
	u2, _ := old.store.UserByUsername(context.Background(), 1, "admin")
	if u2.PasswordHash == u.PasswordHash || !strings.Contains(u2.PasswordHash, "t=2") {
		t.Fatalf("hash not upgraded: %q", u2.PasswordHash)
	}
	if _, err := svc.LoginPassword(context.Background(), "admin", "admin-password", ""); err != nil {
		t.Fatalf("login with the upgraded hash: %v", err)
	}
}

func TestDeleteSessionOwnership(t *testing.T) {
	f := newFixture(t, fastParams)
	admin := f.as(t, "admin", "admin-password")
	if _, err := f.svc.CreateUser(admin, "judy", "judy-password", ""); err != nil {
		t.Fatal(err)
	}
	judy := f.as(t, "judy", "judy-password")
	judySession := auth.PrincipalFrom(judy).Session.ID
	if _, err := f.svc.DeleteSession(admin, &judySession); code(err) != auth.CodeNotFound {
		t.Fatalf("ending someone else's session: %v", err)
	}
	ended, err := f.svc.DeleteSession(judy, nil)
	if err != nil || ended.Session.ID != judySession || ended.Token != auth.PrincipalFrom(judy).Token {
		t.Fatalf("logout: %+v %v", ended, err)
	}
	if _, err := f.svc.Authenticate(context.Background(), ended.Token); code(err) != auth.CodeUnauthenticated {
		t.Fatalf("after logout: %v", err)
	}
}

func TestErrorCodeMasksInternalErrors(t *testing.T) {
	tests := []struct {
		err  error
		code auth.Code
		msg  string
	}{
		{auth.Errorf(auth.CodeForbidden, "no"), auth.CodeForbidden, "no"},
		{errors.Join(errors.New("dial tcp 10.0.0.1:6379: refused"), auth.ErrUnavailable), auth.CodeUnavailable, auth.MsgUnavailable},
		{errors.New("secret detail"), auth.CodeInternal, "Internal server error."},
	}
	for _, tt := range tests {
		if c, m := auth.ErrorCode(tt.err), auth.ErrorMessage(tt.err); c != tt.code || m != tt.msg {
			t.Fatalf("%v: %q %q", tt.err, c, m)
		}
	}
}
