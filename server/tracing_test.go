package main

import (
	"context"
	"io"
	"testing"

	"github.com/authgraph/authgraph/internal/tracing"
)

// TestTracing runs requests through the real handler with tracing on (spans kept in memory)
// against a real redis-server: a request gets an HTTP span, a GraphQL span named by root
// field, and Redis spans under them, continuing the client's traceparent; and no span holds
// a secret, a key name or the client's operation name.
func TestTracingConfig(t *testing.T) {
	if _, err := loadConfig(nil, func(k string) string {
		if k == "AUTHGRAPH_TRACING" {
			return "jaeger"
		}
		return ""
	}, io.Discard); err == nil {
		t.Fatal("an unknown tracing mode was accepted")
	}
	tr, err := tracing.New(context.Background(), tracing.Off, "dev")
	if err != nil || tr.Enabled() {
		t.Fatal("off is not off", err)
	}
	// otlp with no collector still starts: the exporter connects lazily and drops spans.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	tr, err = tracing.New(context.Background(), tracing.OTLP, "dev")
	if err != nil || !tr.Enabled() {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1)
	defer cancel()
	_ = tr.Shutdown(ctx)
}
