package redistest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestChoose(t *testing.T) {
	found := func(string) (string, error) { return "/usr/bin/redis-server", nil }
	missing := func(string) (string, error) { return "", errors.New("not found") }
	tests := []struct {
		name     string
		env      map[string]string
		lookPath func(string) (string, error)
		want     plan
	}{
		{"url wins over binary", map[string]string{EnvURL: "redis://h:1"}, found, planExternal},
		{"url without binary", map[string]string{EnvURL: "redis://h:1", "CI": "true"}, missing, planExternal},
		{"binary", nil, found, planLocal},
		{"neither", nil, missing, planSkip},
		{"neither under CI", map[string]string{"CI": "true"}, missing, planFail},
		{"neither, CI not true", map[string]string{"CI": "false"}, missing, planSkip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, arg := choose(func(k string) string { return tt.env[k] }, tt.lookPath)
			if got != tt.want || arg == "" {
				t.Errorf("choose = %v, %q; want plan %v", got, arg, tt.want)
			}
		})
	}
}

func TestStopRestart(t *testing.T) {
	s := Start(t)
	if s.External {
		t.Skip("needs a private redis-server")
	}
	ctx := context.Background()
	if err := s.Client.Set(ctx, s.Prefix+"k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr
	quick := s.NewClient(func(o *redis.Options) {
		o.DialTimeout, o.ReadTimeout, o.MaxRetries, o.DialerRetries = 200*time.Millisecond, 200*time.Millisecond, -1, 1
	})

	s.Stop()
	if err := quick.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered after Stop")
	}
	s.Stop() // a second Stop is harmless

	s.Restart()
	if s.Addr != addr {
		t.Errorf("Addr after Restart = %s, want %s", s.Addr, addr)
	}
	// The clients made before the restart reconnect by themselves.
	for _, c := range []redis.UniversalClient{s.Client, quick} {
		if err := c.Ping(ctx).Err(); err != nil {
			t.Errorf("PING after Restart: %v", err)
		}
	}
	if n, err := s.Client.Exists(ctx, s.Prefix+"k").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS after Restart = %d, %v; want an empty server", n, err)
	}
}

func TestExternalServerIsCleanedUp(t *testing.T) {
	local := Start(t)
	ctx := context.Background()
	if err := local.Client.Set(ctx, local.Prefix+"outside", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var prefix string
	t.Run("external", func(t *testing.T) {
		t.Setenv(EnvURL, local.URL)
		s := Start(t)
		if !s.External || s.Prefix == local.Prefix {
			t.Fatalf("External = %v, Prefix = %q; want an external server with its own prefix", s.External, s.Prefix)
		}
		prefix = s.Prefix
		for _, k := range []string{"a", "{tag}:b", "c:d"} {
			if err := s.Client.Set(ctx, s.Prefix+k, "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	keys, err := local.Client.Keys(ctx, prefix+"*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("keys under %q after cleanup = %q, %v; want none", prefix, keys, err)
	}
	if n, err := local.Client.Exists(ctx, local.Prefix+"outside").Result(); err != nil || n != 1 {
		t.Errorf("a key outside the prefix was removed (%d, %v)", n, err)
	}
}
