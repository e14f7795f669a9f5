package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/token"
)

// With Redis down every method answers ErrUnavailable, never ErrNotFound (which would log
// users out); once Redis is back, the same client works again without help. Not at once:
// after failing to dial PoolSize times, go-redis answers the last dial error until a
// background probe, made once a second, gets through.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	if srv.External {
		t.Skip("stopping Redis needs a private redis-server, not " + redistest.EnvURL)
	}
	rdb := srv.NewClient(func(o *redis.Options) {
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
		o.MaxRetries, o.DialerRetries = -1, 1
	})
	f := newFixture(t, rdb, srv)
	u := f.user(t, "alice")
	k := f.key(t, u.ID)
	s := f.session(t, u.ID, newToken(t), time.Hour)

	srv.Stop()
	now := time.Now()
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Ping", f.Ping},
		{"CreateUser", func(ctx context.Context) error {
			return f.CreateUser(ctx, &auth.User{Username: "bob", Role: auth.RoleMember, CreatedAt: now})
		}},
		{"User", func(ctx context.Context) error { _, err := f.User(ctx, u.ID); return err }},
		{"UserByUsername", func(ctx context.Context) error { _, err := f.UserByUsername(ctx, 1, "alice"); return err }},
		{"AccountsWithUsername", func(ctx context.Context) error { _, err := f.AccountsWithUsername(ctx, "alice"); return err }},
		{"CreateAccount", func(ctx context.Context) error {
			return f.CreateAccount(ctx, &auth.Account{Slug: "acme", Name: "Acme", CreatedAt: now})
		}},
		{"Account", func(ctx context.Context) error { _, err := f.Account(ctx, 1); return err }},
		{"AccountBySlug", func(ctx context.Context) error { _, err := f.AccountBySlug(ctx, "default"); return err }},
		{"SetPendingTOTP", func(ctx context.Context) error {
			return f.SetPendingTOTP(ctx, u.ID, &auth.PendingTOTP{Secret: []byte("s"), ExpiresAt: now.Add(time.Hour)})
		}},
		{"PendingTOTP", func(ctx context.Context) error { _, err := f.PendingTOTP(ctx, u.ID); return err }},
		{"EnableTOTP", func(ctx context.Context) error { return f.EnableTOTP(ctx, u.ID, []byte("s"), 1, nil) }},
		{"TOTP", func(ctx context.Context) error { _, err := f.TOTP(ctx, u.ID); return err }},
		{"UseTOTPStep", func(ctx context.Context) error { return f.UseTOTPStep(ctx, u.ID, 2) }},
		{"UseRecoveryCode", func(ctx context.Context) error { return f.UseRecoveryCode(ctx, u.ID, token.Sum("c")) }},
		{"DisableTOTP", func(ctx context.Context) error { return f.DisableTOTP(ctx, u.ID) }},
		{"SetPasswordHash", func(ctx context.Context) error { return f.SetPasswordHash(ctx, u.ID, "h") }},
		{"CreateKey", func(ctx context.Context) error {
			return f.CreateKey(ctx, &auth.UserKey{UserID: u.ID, CreatedAt: now})
		}},
		{"Key", func(ctx context.Context) error { _, err := f.Key(ctx, k.ID); return err }},
		{"KeysOf", func(ctx context.Context) error { _, err := f.KeysOf(ctx, u.ID); return err }},
		{"SetKeyHash", func(ctx context.Context) error { return f.SetKeyHash(ctx, k.ID, "h") }},
		{"DeleteKey", func(ctx context.Context) error { _, err := f.DeleteKey(ctx, u.ID, k.ID); return err }},
		{"CreateSession", func(ctx context.Context) error {
			return f.CreateSession(ctx, &auth.Session{
				UserID: u.ID, TokenDigest: token.Sum(newToken(t)), CreatedAt: now, ExpiresAt: now.Add(time.Hour),
			})
		}},
		{"SessionByDigest", func(ctx context.Context) error { _, err := f.SessionByDigest(ctx, s.TokenDigest); return err }},
		{"SessionsOf", func(ctx context.Context) error { _, err := f.SessionsOf(ctx, u.ID); return err }},
		{"DeleteSession", func(ctx context.Context) error { _, err := f.DeleteSession(ctx, u.ID, s.ID); return err }},
		{"UpdateUser", func(ctx context.Context) error {
			_, err := f.UpdateUser(ctx, u.ID, func(*auth.User) error { return nil })
			return err
		}},
		{"ListUsers", func(ctx context.Context) error { _, err := f.ListUsers(ctx, 0, 0, 10, false); return err }},
		{"UsersByID", func(ctx context.Context) error { _, err := f.UsersByID(ctx, []int64{u.ID}); return err }},
		{"CountUsers", func(ctx context.Context) error { _, err := f.CountUsers(ctx); return err }},
		{"DeleteUser", func(ctx context.Context) error { _, err := f.DeleteUser(ctx, u.ID); return err }},
		{"UpdateKey", func(ctx context.Context) error {
			_, err := f.UpdateKey(ctx, k.ID, func(*auth.UserKey) error { return nil })
			return err
		}},
		{"TouchSession", func(ctx context.Context) error { return f.TouchSession(ctx, s, now) }},
		{"DeleteSessionsOf", func(ctx context.Context) error { _, err := f.DeleteSessionsOf(ctx, u.ID, 0); return err }},
	}
	for _, c := range calls {
		wantUnavailable(t, c.name+" with Redis down", c.call(t.Context()))
	}

	srv.Restart() // empty: the harness keeps no data across a restart
	deadline := time.Now().Add(5 * time.Second)
	for err := f.Ping(t.Context()); err != nil; err = f.Ping(t.Context()) {
		wantUnavailable(t, "Ping while reconnecting", err)
		if time.Now().After(deadline) {
			t.Fatalf("the client did not reconnect within 5s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range calls {
		if err := c.call(t.Context()); err != nil && !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("%s after restart: %v", c.name, err)
		}
	}
}
