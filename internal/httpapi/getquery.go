package httpapi

import (
	"context"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/authgraph/authgraph/internal/auth"
)

// msgMutationOverGET answers an operation other than a query sent with GET.
const msgMutationOverGET = "GET runs queries only: send mutations with POST."

// getTransport is gqlgen's GET transport, except that an operation other than a query is
// answered 405 Method Not Allowed with Allow: POST, as GraphQL over HTTP requires (GET is a
// safe method: browsers prefetch it, caches and crawlers repeat it, and an <img> tag on any
// site sends it), where gqlgen answers 406. The operation is known only once the document is
// parsed (or, for a persisted query, looked up), so the check sits where gqlgen makes the
// operation context: the operation is refused there and never dispatched.
type getTransport struct{ transport.GET }

var _ graphql.Transport = getTransport{}

func (t getTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	rw := &refusableWriter{ResponseWriter: w}
	t.GET.Do(rw, r, queriesOnly{GraphExecutor: exec, w: rw})
}

// queriesOnly refuses, on behalf of a GET, an operation that is not a query.
type queriesOnly struct {
	graphql.GraphExecutor
	w *refusableWriter
}

func (e queriesOnly) CreateOperationContext(ctx context.Context, raw *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	oc, errs := e.GraphExecutor.CreateOperationContext(ctx, raw)
	if len(errs) > 0 || oc == nil || oc.Operation == nil || oc.Operation.Operation == ast.Query {
		return oc, errs
	}
	e.w.Header().Set("Allow", http.MethodPost)
	writeError(e.w.ResponseWriter, http.StatusMethodNotAllowed, auth.CodeInvalidInput, msgMutationOverGET)
	e.w.refused = true
	// An error, so that the transport stops here whatever its own rules: it writes this
	// error, which refusableWriter drops.
	return oc, gqlerror.List{gqlerror.Errorf("%s", msgMutationOverGET)}
}

// refusableWriter drops whatever is written after the answer has been given by queriesOnly.
type refusableWriter struct {
	http.ResponseWriter
	refused bool
}

func (w *refusableWriter) WriteHeader(code int) {
	if !w.refused {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *refusableWriter) Write(b []byte) (int, error) {
	if w.refused {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *refusableWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
