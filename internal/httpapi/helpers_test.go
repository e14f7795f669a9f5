package httpapi

import (
	"time"

	"github.com/authgraph/authgraph/internal/apq"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/metrics"
)

// testConfig is the server's default configuration, as its flags set it when none is given.
func testConfig() Config {
	cors, err := ParseCORS("*")
	if err != nil {
		panic(err)
	}
	return Config{
		Version: "test", CORS: cors, MaxBodyBytes: 1 << 20, RedisTimeout: 2 * time.Second,
		Playground: true, AccountPage: true, Introspection: true,
		MaxDepth: 15, MaxComplexity: 50000, MaxFields: 500, MaxAliases: 30, MaxTokens: 5000,
	}
}

// testDeps is what the server would build around svc by default: metrics on, persisted
// queries kept in process without limits, no tracing.
func testDeps(cfg Config, svc *auth.Service, pool metrics.HashPool) Deps {
	m := metrics.New()
	m.WatchHashPool(pool)
	return Deps{
		Config: cfg, Service: svc, Metrics: m,
		APQ: apq.New(4<<20, 24*time.Hour, clock.Real{}, m.APQ),
	}
}
