package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/authgraph/authgraph/internal/argon2id"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redisstore"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/tracing"
)

// TestTracing runs requests through the real handler with tracing on (spans kept in memory)
// against a real redis-server: a request gets an HTTP span, a GraphQL span named by root
// field, and Redis spans under them, continuing the client's traceparent; and no span holds
// a secret, a key name or the client's operation name.
func TestTracing(t *testing.T) {
	rs := redistest.Start(t)
	rdb := rs.NewClient(nil)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tracer := tracing.NewWithProvider(tp, tp.Shutdown)
	if err := tracer.Redis(rdb); err != nil {
		t.Fatal(err)
	}
	hasher, _ := argon2id.New(argon2id.DefaultParams)
	svc := auth.NewService(redisstore.New(rdb, redisstore.Options{Prefix: rs.Prefix, Clock: clock.Real{}}), hasher, clock.Real{}, auth.Config{})
	const password = "tracing-password-123"
	if _, err := svc.EnsureUser(context.Background(), "tracy", password, auth.RoleMember); err != nil {
		t.Fatal(err)
	}
	before := len(rec.Ended()) // the set-up's own Redis calls, outside any request
	srv := httptest.NewServer(New(Deps{Config: testConfig(), Service: svc, Logger: zerolog.Nop(), Tracer: tracer}))
	defer srv.Close()

	post := func(body string, headers ...string) string {
		req, _ := http.NewRequest("POST", srv.URL+"/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	answer := post(`{"query":"mutation SecretOperationName { createSessionUsingUsername(input: {username: \"tracy\", password: \"`+password+`\"}) { token } }"}`,
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	token := answer[strings.Index(answer, `"token":"`)+9:]
	token = token[:strings.Index(token, `"`)]
	post(`{"query":"{ me { username } }"}`, "x-auth-token", token)

	spans := rec.Ended()
	names := map[string]int{}
	var dump strings.Builder
	for _, s := range spans {
		names[s.Name()]++
		dump.WriteString(s.Name())
		for _, a := range s.Attributes() {
			dump.WriteString(" " + string(a.Key) + "=" + a.Value.Emit())
		}
		for _, e := range s.Events() {
			dump.WriteString(" event:" + e.Name)
			for _, a := range e.Attributes {
				dump.WriteString(" " + a.Value.Emit())
			}
		}
		dump.WriteString("\n")
	}
	for _, want := range []string{"POST /graphql", "graphql createSessionUsingUsername", "graphql me"} {
		if names[want] == 0 {
			t.Errorf("no %q span in\n%s", want, dump.String())
		}
	}
	redisSpans := 0
	for _, s := range spans[before:] {
		if s.InstrumentationScope().Name == "github.com/redis/go-redis/extra/redisotel" && s.Name() != "redis.dial" {
			redisSpans++
			if !s.Parent().IsValid() {
				t.Errorf("Redis span %q has no parent", s.Name())
			}
		}
		if s.Name() == "graphql createSessionUsingUsername" && s.SpanContext().TraceID().String() != traceID {
			t.Errorf("the client's traceparent was not continued: %s", s.SpanContext().TraceID())
		}
	}
	if redisSpans == 0 {
		t.Errorf("no Redis spans in\n%s", dump.String())
	}
	for _, leak := range []string{password, token, "SecretOperationName", "tracy", rs.Prefix} {
		if strings.Contains(dump.String(), leak) {
			t.Errorf("a span holds %q:\n%s", leak, dump.String())
		}
	}
}
