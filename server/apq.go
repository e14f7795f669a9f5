package main

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"

	"github.com/authgraph/authgraph/internal/apq"
)

// usePersistedQueries turns on Automatic Persisted Queries: gqlgen reads hashes from store,
// and a query sent in full is kept only once it has parsed and validated (AroundOperations
// runs after validation), so the store never holds text that is not a valid operation.
func usePersistedQueries(srv *handler.Server, store *apq.Store) {
	if store == nil {
		return
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: store.Reader()})
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if st := extension.GetApqStats(ctx); st != nil && st.SentQuery {
			store.Register(ctx, st.Hash, graphql.GetOperationContext(ctx).RawQuery)
		}
		return next(ctx)
	})
}
