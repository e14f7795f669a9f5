// Package tracing is authgraph's optional OpenTelemetry tracing of HTTP requests, GraphQL
// operations and Redis commands. It is off by default; AUTHGRAPH_TRACING=otlp exports spans
// over OTLP/HTTP, configured by the standard OTEL_EXPORTER_OTLP_* variables (endpoint,
// headers, TLS), OTEL_SERVICE_NAME and OTEL_TRACES_SAMPLER(_ARG).
//
// Spans carry no secret and nothing a client chose: HTTP spans are named by route, GraphQL
// spans by the schema root field they run (as the metrics are), and Redis spans by command
// only: the command's arguments (key names hold usernames and token digests) are left out.
package tracing

import (
	"context"
	"fmt"
	"net/http"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Modes of AUTHGRAPH_TRACING.
const (
	Off  = "off"
	OTLP = "otlp"
)

// Tracer traces requests, or does nothing when tracing is off.
type Tracer struct {
	tp       trace.TracerProvider
	tracer   trace.Tracer
	shutdown func(context.Context) error
}

// New sets up tracing in the given mode.
func New(ctx context.Context, mode, version string) (*Tracer, error) {
	switch mode {
	case "", Off:
		return &Tracer{tp: noop.NewTracerProvider(), shutdown: func(context.Context) error { return nil }}, nil
	case OTLP:
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("OTLP exporter: %w", err)
		}
		res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
			semconv.ServiceName("authgraph"), semconv.ServiceVersion(version)))
		if err != nil {
			return nil, err
		}
		// resource.Default() reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; ours come
		// second only where those do not say.
		if env, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
			if merged, err := resource.Merge(res, env); err == nil {
				res = merged
			}
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		return NewWithProvider(tp, tp.Shutdown), nil
	}
	return nil, fmt.Errorf("AUTHGRAPH_TRACING must be off or otlp, not %q", mode)
}

// NewWithProvider traces with tp (tests give an in-memory one). shutdown flushes it.
func NewWithProvider(tp trace.TracerProvider, shutdown func(context.Context) error) *Tracer {
	return &Tracer{tp: tp, tracer: tp.Tracer("github.com/authgraph/authgraph"), shutdown: shutdown}
}

// Enabled reports whether spans are recorded.
func (t *Tracer) Enabled() bool { return t != nil && t.tracer != nil }

// Shutdown flushes the spans not yet exported.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// HTTP wraps h in a server span named after route, continuing a W3C trace context the client
// sent (traceparent).
func (t *Tracer) HTTP(route string, h http.Handler) http.Handler {
	if !t.Enabled() {
		return h
	}
	return otelhttp.NewHandler(h, route,
		otelhttp.WithTracerProvider(t.tp),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + route }),
	)
}

// Redis traces rdb's commands, by name only.
func (t *Tracer) Redis(rdb redis.UniversalClient) error {
	if !t.Enabled() || rdb == nil {
		return nil
	}
	return redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(t.tp), redisotel.WithDBStatement(false))
}

// Start starts a span of the GraphQL layer. name must not come from a client.
func (t *Tracer) Start(ctx context.Context, name string, kind string) (context.Context, trace.Span) {
	if !t.Enabled() {
		return ctx, trace.SpanFromContext(ctx)
	}
	ctx, span := t.tracer.Start(ctx, name)
	if kind != "" {
		span.SetAttributes(semconv.GraphqlOperationTypeKey.String(kind))
	}
	return ctx, span
}
