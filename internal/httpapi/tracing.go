package httpapi

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"go.opentelemetry.io/otel/codes"

	"github.com/authgraph/authgraph/internal/metrics"
	"github.com/authgraph/authgraph/internal/tracing"
)

// traceGraphQL gives each GraphQL operation a span, named by the root field it runs (never
// the client's operation name), marked as an error when the answer carries errors.
func traceGraphQL(srv *handler.Server, t *tracing.Tracer) {
	if !t.Enabled() {
		return
	}
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		kind := ""
		if oc.Operation != nil {
			kind = string(oc.Operation.Operation)
		}
		ctx, span := t.Start(ctx, "graphql "+metrics.OperationLabel(oc.Operation), kind)
		rh := next(ctx)
		ended := false
		return func(ctx context.Context) *graphql.Response {
			resp := rh(ctx)
			if !ended {
				ended = true
				if resp != nil && len(resp.Errors) > 0 {
					code, _ := resp.Errors[0].Extensions["code"].(string)
					span.SetStatus(codes.Error, code)
				}
				span.End()
			}
			return resp
		}
	})
}
