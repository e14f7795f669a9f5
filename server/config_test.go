package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// testKey is a valid AUTHGRAPH_SECRET_KEY: base64 of 32 bytes.
const testKey = "q83vEjRWeJq8neHwEiM0VWZ3iJmqu8zd7v8AESIzRFU="

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		check   func(Config) bool
		wantErr bool
	}{
		{name: "defaults", check: func(c Config) bool {
			return c.Addr == "127.0.0.1:8080" && c.SessionTTL == 720*time.Hour && c.RedisURL == "" && c.Playground && c.Argon2.Memory == 19456
		}},
		{name: "env", env: map[string]string{"AUTHGRAPH_ADDR": ":9000", "AUTHGRAPH_SESSION_TTL": "24h", "AUTHGRAPH_REDIS_URL": "redis://localhost:6379/0"},
			check: func(c Config) bool {
				return c.Addr == ":9000" && c.SessionTTL == 24*time.Hour && c.RedisURL == "redis://localhost:6379/0"
			}},
		{name: "a flag wins over the env", env: map[string]string{"AUTHGRAPH_ADDR": ":9000"}, args: []string{"-addr", ":9001"},
			check: func(c Config) bool { return c.Addr == ":9001" }},
		{name: "a bad duration", env: map[string]string{"AUTHGRAPH_SESSION_TTL": "forever"}, wantErr: true},
		{name: "a negative ttl", env: map[string]string{"AUTHGRAPH_SESSION_TTL": "-1h"}, wantErr: true},
		{name: "an admin name without a password", env: map[string]string{"AUTHGRAPH_ADMIN_USERNAME": "root"}, wantErr: true},
		{name: "argon2 memory too small", env: map[string]string{"AUTHGRAPH_ARGON2_MEMORY": "1"}, wantErr: true},
		{name: "an unknown flag", args: []string{"-nope"}, wantErr: true},
		{name: "refresh defaults", check: func(c Config) bool {
			a := c.authConfig()
			return c.AccessTokenTTL == 15*time.Minute && c.RefreshTokenTTL == 720*time.Hour && c.RefreshGrace == 10*time.Second &&
				!c.CookieSecure && !c.AllowQueryToken && a.RefreshGrace == 10*time.Second && a.AccessTokenTTL == 15*time.Minute
		}},
		{name: "a zero grace turns the window off", env: map[string]string{"AUTHGRAPH_REFRESH_GRACE": "0s"},
			check: func(c Config) bool { return c.authConfig().RefreshGrace < 0 }},
		{name: "cookie and query switches", env: map[string]string{"AUTHGRAPH_COOKIE_SECURE": "true", "AUTHGRAPH_ALLOW_QUERY_TOKEN": "1"},
			check: func(c Config) bool {
				h := c.httpConfig()
				return h.CookieSecure && h.AllowQueryToken
			}},
		{name: "a refresh token shorter than the access token", env: map[string]string{"AUTHGRAPH_REFRESH_TOKEN_TTL": "10m"}, wantErr: true},
		{name: "a negative grace", env: map[string]string{"AUTHGRAPH_REFRESH_GRACE": "-1s"}, wantErr: true},
		{name: "a grace as long as the access token", env: map[string]string{"AUTHGRAPH_REFRESH_GRACE": "15m"}, wantErr: true},
		{name: "a secret key", env: map[string]string{"AUTHGRAPH_SECRET_KEY": testKey},
			check: func(c Config) bool { return len(c.SecretKey) == 32 }},
		{name: "a secret key by flag, URL-safe and unpadded", args: []string{"-secret-key", strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(testKey), "=")},
			check: func(c Config) bool { return len(c.SecretKey) == 32 }},
		{name: "no secret key", check: func(c Config) bool { return c.SecretKey == nil }},
		{name: "a short secret key", env: map[string]string{"AUTHGRAPH_SECRET_KEY": "c2hvcnQ="}, wantErr: true},
		{name: "a secret key that is not base64", env: map[string]string{"AUTHGRAPH_SECRET_KEY": "not base64!"}, wantErr: true},
		{name: "lifecycle defaults", check: func(c Config) bool {
			return c.IdleTimeout == 0 && c.ReauthWindow == 15*time.Minute && c.UserKeyMaxTTL == 0
		}},
		{name: "lifecycle settings", env: map[string]string{
			"AUTHGRAPH_SESSION_IDLE_TIMEOUT": "30m", "AUTHGRAPH_REAUTH_WINDOW": "5m", "AUTHGRAPH_USER_KEY_MAX_TTL": "2160h",
		}, check: func(c Config) bool {
			a := c.authConfig()
			return c.IdleTimeout == 30*time.Minute && c.ReauthWindow == 5*time.Minute && c.UserKeyMaxTTL == 2160*time.Hour &&
				a.IdleTimeout == 30*time.Minute && a.ReauthWindow == 5*time.Minute && a.UserKeyMaxTTL == 2160*time.Hour
		}},
		{name: "an idle timeout finer than lastUsedAt", env: map[string]string{"AUTHGRAPH_SESSION_IDLE_TIMEOUT": "30s"}, wantErr: true},
		{name: "a zero reauth window", env: map[string]string{"AUTHGRAPH_REAUTH_WINDOW": "0"}, wantErr: true},
		{name: "a negative key lifetime", env: map[string]string{"AUTHGRAPH_USER_KEY_MAX_TTL": "-1h"}, wantErr: true},
		{name: "session cache defaults", check: func(c Config) bool {
			return c.SessionCacheTTL == 10*time.Second && c.SessionCacheSize == 100_000
		}},
		{name: "session cache off", env: map[string]string{"AUTHGRAPH_SESSION_CACHE_TTL": "0s", "AUTHGRAPH_SESSION_CACHE_SIZE": "0"},
			check: func(c Config) bool { return c.SessionCacheTTL == 0 && c.SessionCacheSize == 0 }},
		{name: "a negative session cache size", env: map[string]string{"AUTHGRAPH_SESSION_CACHE_SIZE": "-1"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %+v", c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

// A rejected key is never echoed: not in the error, not in the usage output.
func TestSecretKeyIsNeverEchoed(t *testing.T) {
	bad := testKey[:40] + "!!" // a mistyped key is still mostly the key
	for _, args := range [][]string{nil, {"-secret-key", bad}} {
		var stderr bytes.Buffer
		_, err := loadConfig(args, func(k string) string {
			if k == "AUTHGRAPH_SECRET_KEY" && args == nil {
				return bad
			}
			return ""
		}, &stderr)
		if err == nil {
			t.Fatalf("a malformed key was accepted (args %v)", args)
		}
		if strings.Contains(err.Error()+stderr.String(), testKey[:16]) {
			t.Fatalf("the key is echoed: %v\n%s", err, stderr.String())
		}
	}
}

func TestNewRedisClientURLForms(t *testing.T) {
	tests := []struct {
		url     string
		wantErr bool
	}{
		{"redis://localhost:6379/0", false},
		{"rediss://user:pass@localhost:6380", false},
		{"redis+cluster://localhost:7000?addr=localhost:7001&addr=localhost:7002", false},
		{"redis+sentinel://localhost:26379?master_name=mymaster&addr=localhost:26380", false},
		{"redis+sentinel://localhost:26379", true},
		{"http://localhost", true},
		{"localhost:6379", true},
		{"redis+mesh://localhost", true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, err := newRedisClient(tt.url, time.Second)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if c != nil {
				c.Close()
			}
		})
	}
}
