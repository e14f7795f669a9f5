package main

import (
	"io"
	"testing"
)

func TestLoadConfigHardening(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(Config) bool
		wantErr bool
	}{
		{name: "defaults", check: func(c Config) bool {
			return c.Introspection && c.Playground && c.MaxDepth == 15 && c.MaxComplexity == 50000 &&
				c.MaxFields == 500 && c.MaxAliases == 30 && c.MaxTokens == 5000 && len(c.TrustedProxies) == 0
		}},
		{name: "production turns introspection and the playground off", env: map[string]string{"AUTHGRAPH_ENV": "production"},
			check: func(c Config) bool { return !c.Introspection && !c.Playground }},
		{name: "production makes cookies Secure", env: map[string]string{"AUTHGRAPH_ENV": "production"},
			check: func(c Config) bool { return c.CookieSecure && c.httpConfig().CookieSecure }},
		{name: "production with Secure cookies turned off", env: map[string]string{"AUTHGRAPH_ENV": "production", "AUTHGRAPH_COOKIE_SECURE": "false"},
			check: func(c Config) bool { return !c.CookieSecure }},
		{name: "Secure cookies elsewhere only when asked", env: map[string]string{"AUTHGRAPH_ENV": "staging"},
			check: func(c Config) bool { return !c.CookieSecure }},
		{name: "a bad cookie switch", env: map[string]string{"AUTHGRAPH_COOKIE_SECURE": "sometimes"}, wantErr: true},
		{name: "production with both asked for", env: map[string]string{"AUTHGRAPH_ENV": "production", "AUTHGRAPH_INTROSPECTION": "1", "AUTHGRAPH_PLAYGROUND": "true"},
			check: func(c Config) bool { return c.Introspection && c.Playground }},
		{name: "introspection off", env: map[string]string{"AUTHGRAPH_INTROSPECTION": "false"},
			check: func(c Config) bool { return !c.Introspection && c.Playground }},
		{name: "limits", env: map[string]string{"AUTHGRAPH_MAX_DEPTH": "7", "AUTHGRAPH_MAX_COMPLEXITY": "99"},
			check: func(c Config) bool { return c.MaxDepth == 7 && c.MaxComplexity == 99 }},
		{name: "trusted proxies", env: map[string]string{"AUTHGRAPH_TRUSTED_PROXIES": "10.0.0.0/8,::1"},
			check: func(c Config) bool { return len(c.TrustedProxies) == 2 }},
		{name: "metrics on loopback by default", check: func(c Config) bool { return c.Metrics && c.MetricsAddr == "127.0.0.1:9464" && c.MetricsToken == "" }},
		{name: "a metrics address without a port", env: map[string]string{"AUTHGRAPH_METRICS_ADDR": "0.0.0.0"}, wantErr: true},
		{name: "no metrics address needed with metrics off", env: map[string]string{"AUTHGRAPH_METRICS": "false", "AUTHGRAPH_METRICS_ADDR": "nowhere"},
			check: func(c Config) bool { return !c.Metrics }},
		{name: "a zero depth", env: map[string]string{"AUTHGRAPH_MAX_DEPTH": "0"}, wantErr: true},
		{name: "a bad boolean", env: map[string]string{"AUTHGRAPH_INTROSPECTION": "maybe"}, wantErr: true},
		{name: "a bad proxy", env: map[string]string{"AUTHGRAPH_TRUSTED_PROXIES": "proxy.internal"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(nil, func(k string) string { return tt.env[k] }, io.Discard)
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

func TestLoadConfigLimitsAndHashing(t *testing.T) {
	c, err := loadConfig(nil, func(k string) string {
		return map[string]string{"AUTHGRAPH_RATE_LIMITS": "login:ip=60/1m, login:id=120/1h/40", "AUTHGRAPH_HASH_WORKERS": "3", "AUTHGRAPH_HASH_QUEUE": "0"}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.RateLimits.off || c.RateLimits.rules["login:ip"].Rate != 60 || c.RateLimits.rules["login:id"].Burst != 40 || c.HashWorkers != 3 || c.HashQueue != 0 {
		t.Fatalf("config %+v", c)
	}
	c, err = loadConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil || c.RateLimits.off || len(c.RateLimits.rules) != 0 || c.HashWorkers != 0 || c.HashQueue != -1 {
		t.Fatalf("defaults %+v %v", c, err)
	}
	for _, bad := range []map[string]string{
		{"AUTHGRAPH_RATE_LIMITS": "login:everything=1/1m"},
		{"AUTHGRAPH_RATE_LIMITS": "login:ip"},
		{"AUTHGRAPH_RATE_LIMITS": "login:ip=0/1m"},
		{"AUTHGRAPH_HASH_WORKERS": "-1"},
		{"AUTHGRAPH_HASH_QUEUE": "-2"},
	} {
		if _, err := loadConfig(nil, func(k string) string { return bad[k] }, io.Discard); err == nil {
			t.Fatalf("%v was accepted", bad)
		}
	}
	c, _ = loadConfig(nil, func(k string) string { return map[string]string{"AUTHGRAPH_RATE_LIMITS": "off"}[k] }, io.Discard)
	if !c.RateLimits.off {
		t.Fatal("off is not off")
	}
}
