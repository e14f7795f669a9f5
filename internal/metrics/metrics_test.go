package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/authgraph/authgraph/internal/redistest"
)

func TestOperationLabel(t *testing.T) {
	tests := []struct{ query, want string }{
		{`{ version }`, "version"},
		{`query ClientChosenName { me { id } }`, "me"},
		{`{ aliasChosenByClient: me { id } }`, "me"},
		{`{ __typename me { id } }`, "me"},
		{`{ __typename }`, "__typename"},
		{`{ version me { id } }`, OperationMultiple},
		{`{ a: version b: version }`, "version"},
		{`mutation M { ... on Mutation { createUserKey { id } } }`, "createUserKey"},
		{`query { ...F } fragment F on Query { me { id } }`, "me"},
	}
	for _, tt := range tests {
		doc, err := parser.ParseQuery(&ast.Source{Input: tt.query})
		if err != nil {
			t.Fatal(err)
		}
		op := doc.Operations[0]
		for _, f := range doc.Fragments { // what validation does for spreads
			for _, sel := range op.SelectionSet {
				if s, ok := sel.(*ast.FragmentSpread); ok && s.Name == f.Name {
					s.Definition = f
				}
			}
		}
		if got := OperationLabel(op); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.query, got, tt.want)
		}
	}
	if OperationLabel(nil) != OperationNone {
		t.Error("nil operation")
	}
}

func TestAuthOutcomeRefusesUnknownValues(t *testing.T) {
	m := New()
	m.AuthOutcome("password", OutcomeBadCredentials)
	m.AuthOutcome("sneaky-method", "sneaky-outcome")
	if v := testutil.ToFloat64(m.authOutcomes.WithLabelValues(MethodPassword, OutcomeBadCredentials)); v != 1 {
		t.Fatalf("bad_credentials = %v", v)
	}
	if v := testutil.ToFloat64(m.authOutcomes.WithLabelValues(MethodOther, OutcomeError)); v != 1 {
		t.Fatalf("other/error = %v", v)
	}
	body := scrape(t, m)
	if strings.Contains(body, "sneaky") {
		t.Fatal("a caller-supplied value became a label")
	}
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("version", 200, time.Millisecond)
	m.AuthOutcome(MethodToken, OutcomeOK)
	m.APQ(APQHit)
	m.WatchHashPool(nil)
	m.WatchRedis(nil)
}

type fakePool struct{}

func (fakePool) Workers() int             { return 4 }
func (fakePool) QueueSize() int           { return 8 }
func (fakePool) InFlight() int            { return 3 }
func (fakePool) Queued() int              { return 5 }
func (fakePool) WaitTotal() time.Duration { return 1500 * time.Millisecond }
func (fakePool) Rejected() uint64         { return 7 }

func TestWatchHashPool(t *testing.T) {
	m := New()
	m.WatchHashPool(fakePool{})
	body := scrape(t, m)
	for _, want := range []string{
		"authgraph_argon2_in_flight 3", "authgraph_argon2_queue_depth 5", "authgraph_argon2_workers 4",
		"authgraph_argon2_queue_capacity 8", "authgraph_argon2_queue_wait_seconds_total 1.5", "authgraph_argon2_rejected_total 7",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
}

func TestWatchRedis(t *testing.T) {
	rs := redistest.Start(t)
	rdb := rs.NewClient(nil)
	m := New()
	m.WatchRedis(rdb)
	ctx := context.Background()
	key := rs.Prefix + "list"
	if err := rdb.RPush(ctx, key, "x").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Get(ctx, rs.Prefix+"missing").Err(); err != redis.Nil {
		t.Fatalf("want redis.Nil, got %v", err)
	}
	if err := rdb.Get(ctx, key).Err(); err == nil { // WRONGTYPE
		t.Fatal("GET of a list succeeded")
	}
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, key) // WRONGTYPE again, in a pipeline
		return nil
	})
	if v := testutil.ToFloat64(m.redisErrors.WithLabelValues("get")); v != 1 {
		t.Errorf("get errors = %v, want 1 (a missing key is not an error)", v)
	}
	if v := testutil.ToFloat64(m.redisErrors.WithLabelValues("incr")); v != 1 {
		t.Errorf("incr errors = %v, want 1", v)
	}
	body := scrape(t, m)
	for _, want := range []string{"authgraph_redis_pool_hits_total", `authgraph_redis_pool_connections{state="total"}`, "authgraph_redis_pool_timeouts_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, b)
	}
	return string(b)
}
