package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/passkey/passkeytest"
)

// BenchmarkSignIn compares a passkey sign-in (beginPasskeySignIn, the authenticator's
// signature, createSessionUsingPasskey: two requests) with a password sign-in (one request,
// argon2id at the default parameters), one after another over HTTP on Redis, without rate
// limits. The software authenticator's ECDSA signature is part of the passkey figure.
func BenchmarkSignIn(b *testing.B) {
	srv, _ := startRedisServer(b, map[string]string{"AUTHGRAPH_RATE_LIMITS": "off", "AUTHGRAPH_LOG_LEVEL": "warn",
		"AUTHGRAPH_PUBLIC_URL": passkeyOrigin})
	admin := srv.login(b, adminName, adminPass)
	r := srv.post(b, admin, `mutation { createUser(input: {username: "bench", password: "bench-password-1"}) { id } }`, nil)
	if r.code() != "" {
		b.Fatal(r.Raw)
	}
	tok := srv.login(b, "bench", "bench-password-1")
	a := passkeytest.New(passkeyOrigin)
	opts := srv.post(b, tok, qBeginReg, nil).str(b, "beginPasskeyRegistration")
	resp, err := a.Create([]byte(opts))
	if err != nil {
		b.Fatal(err)
	}
	if r := srv.post(b, tok, qFinishReg, map[string]any{"n": "bench", "r": string(resp)}); r.code() != "" {
		b.Fatal(r.Raw)
	}
	b.Run("passkey", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			opts := srv.post(b, "", qBeginIn, nil).str(b, "beginPasskeySignIn")
			resp, err := a.Get([]byte(opts))
			if err != nil {
				b.Fatal(err)
			}
			if r := srv.post(b, "", qSignIn, map[string]any{"r": string(resp)}); r.code() != "" {
				b.Fatal(r.Raw)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sign-ins/s")
	})
	b.Run("password", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			srv.login(b, "bench", "bench-password-1")
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sign-ins/s")
	})
}

// TestPasskeyRedisFootprint measures what a passkey costs in Redis: the user's hash of
// passkeys and the credential index, per passkey, with the software authenticator's
// credentials (a 32-byte id and an ES256 key, as platform authenticators make).
func TestPasskeyRedisFootprint(t *testing.T) {
	srv, rs := startRedisServer(t, passkeyEnv())
	admin := srv.login(t, adminName, adminPass)
	srv.createUser(t, admin, "gail", "gail-password-12")
	tok := srv.login(t, "gail", "gail-password-12")
	uid := ok(t, "me", srv.post(t, tok, `{ me { rawID } }`, nil)).str(t, "me.rawID")
	ctx := context.Background()
	usage := func() int64 {
		var total int64
		keys, err := rs.Client.Keys(ctx, rs.Prefix+"pkc:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, rs.Prefix+"{u"+uid+"}:pk")
		for _, k := range keys {
			n, _ := rs.Client.MemoryUsage(ctx, k, 0).Result()
			total += n
		}
		return total
	}
	const n = 10
	for i := range n {
		registerPasskey(t, srv, tok, fmt.Sprintf("key %d", i))
	}
	total := usage()
	t.Logf("%d passkeys: %d bytes of Redis memory (hash and index keys), %d bytes per passkey", n, total, total/n)
	if total/n > 1024 {
		t.Errorf("%d bytes per passkey; want under 1 KiB", total/n)
	}
}
