package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/redistest"
)

func newRedis(t *testing.T, rdb redis.UniversalClient, prefix string, rules map[string]Limit) *RedisLimiter {
	t.Helper()
	r, err := NewRedis(rdb, prefix, rules)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRedisConformance runs the suite on one redis-server, each subtest under its own prefix.
func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	var n atomic.Int64
	runConformance(t, func(t *testing.T, rules map[string]Limit) env {
		prefix := fmt.Sprintf("%s%d:", srv.Prefix, n.Add(1))
		return env{lim: newRedis(t, srv.Client, prefix, rules), wait: time.Sleep}
	})
}

// Two limiters on two clients with one prefix are two replicas: they share every bucket.
func TestRedisSharedByReplicas(t *testing.T) {
	srv := redistest.Start(t)
	rules := oneRule(Limit{Rate: 5, Burst: 5, Period: time.Hour})
	a := newRedis(t, srv.Client, srv.Prefix, rules)
	b := newRedis(t, srv.NewClient(nil), srv.Prefix, rules)
	for i, lim := range []Limiter{a, b, a, b, a} {
		if !mustAllow(t, lim, testRule, "k").Allowed {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	for name, lim := range map[string]Limiter{"a": a, "b": b} {
		if mustAllow(t, lim, testRule, "k").Allowed {
			t.Errorf("replica %s allowed a 6th attempt", name)
		}
	}
}

// Key names are the prefix, the rule and a digest: no username or address of the policy's
// calls appears in them, none falls outside the prefix (redis_rate's own "rate:" is taken
// off), and each expires.
func TestRedisKeyNames(t *testing.T) {
	srv := redistest.Start(t)
	ctx := t.Context()
	p := NewPolicy(newRedis(t, srv.Client, srv.Prefix, nil))
	account := Username("alice.secret-username")
	_ = p.CheckLogin(ctx, "203.0.113.9", account)
	_ = p.LoginFailed(ctx, "203.0.113.9", account)
	_ = p.CheckLogin(ctx, "2001:db8::1", UserKey(130))
	_ = p.LoginFailed(ctx, "2001:db8::1", UserKey(130))
	_ = p.CheckTOTP(ctx, "203.0.113.9", 7)

	keys := scan(t, srv.Client, srv.Prefix+"*")
	if len(keys) != 7 { // 2 × (login:ip, login:ip+id, login:id), totp:id
		t.Errorf("%d keys, want 7: %q", len(keys), keys)
	}
	if all := scan(t, srv.Client, "*"); !srv.External && len(all) != len(keys) {
		t.Errorf("keys outside the prefix %q: %q", srv.Prefix, all)
	}
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, srv.Prefix+"rl:")
		if !ok {
			t.Errorf("key %q is not under %q", k, srv.Prefix+"rl:")
			continue
		}
		i := strings.LastIndex(rest, ":")
		rule, digest := rest[:max(i, 0)], rest[i+1:]
		if _, known := DefaultRules()[rule]; !known || len(digest) != 43 {
			t.Errorf("key %q: want a rule name and a 43-character digest", k)
		}
		for _, raw := range []string{"alice", "secret", "203.0.113", "2001", "130"} {
			if strings.Contains(digest, raw) {
				t.Errorf("key %q holds %q", k, raw)
			}
		}
		if ttl := srv.Client.TTL(ctx, k).Val(); ttl <= 0 {
			t.Errorf("key %q has TTL %v, want one", k, ttl)
		}
	}
}

// With Redis down, every operation fails closed with ErrUnavailable (503), never a refusal
// or a pass; once Redis is back, the same limiter works again.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	if srv.External {
		t.Skip("stopping Redis needs a private redis-server, not " + redistest.EnvURL)
	}
	rdb := srv.NewClient(func(o *redis.Options) {
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
		o.MaxRetries, o.DialerRetries = -1, 1
	})
	lim := newRedis(t, rdb, srv.Prefix, oneRule(Limit{Rate: 5, Burst: 5, Period: time.Hour}))
	p := NewPolicy(lim)
	mustAllow(t, lim, testRule, "k")

	srv.Stop()
	ctx := t.Context()
	_, errAllow := lim.Allow(ctx, testRule, "k")
	_, errPeek := lim.Peek(ctx, testRule, "k")
	for name, err := range map[string]error{
		"Allow": errAllow, "Peek": errPeek,
		"Drain":        lim.Drain(ctx, testRule, "k"),
		"Reset":        lim.Reset(ctx, testRule, "k"),
		"CheckLogin":   p.CheckLogin(ctx, user, Username("alice")),
		"LoginFailed":  p.LoginFailed(ctx, user, Username("alice")),
		"CheckRefresh": p.CheckRefresh(ctx, user),
	} {
		if !errors.Is(err, auth.ErrUnavailable) || errors.Is(err, ErrLimited) {
			t.Errorf("%s with Redis down: %v, want ErrUnavailable", name, err)
		} else if auth.ErrorCode(err) != auth.CodeUnavailable {
			t.Errorf("%s with Redis down: code %s, want %s", name, auth.ErrorCode(err), auth.CodeUnavailable)
		}
	}

	srv.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		res, err := lim.Allow(ctx, testRule, "k")
		cancel()
		if err == nil {
			if !res.Allowed || res.Remaining != 4 { // the restarted server is empty
				t.Errorf("after restart: %+v, want a fresh bucket", res)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing 5s after Redis came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func scan(t *testing.T, rdb redis.UniversalClient, match string) []string {
	t.Helper()
	keys, err := redistest.Keys(t.Context(), rdb, match) // every master of a cluster
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
