package graph

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vikstrous/dataloadgen"

	"github.com/authgraph/authgraph/internal/auth"
)

// RowLoaders is the handler extension that gives each query its own loaders for the fields
// that a list shows per row: User.account and User.totpEnabled. Without them a page of
// 1,000 users reads the store 2,000 times; with them, the rows of a page wait a moment for
// one another and the page costs one batch read per field (Service.AccountsByID,
// Service.TOTPEnabledByUser), whose answers the loader keeps for the rest of the query.
//
// Loaders serve only queries: mutations run one after another, so a later one could change
// what an earlier one's answer left cached. And they serve only rows of a list: a single
// user (me, user(id:)) reads directly, without waiting for rows that will not come.
type RowLoaders struct {
	Service *auth.Service
	// Wait is how long the first row waits for the others before the batch is read
	// (default defaultRowWait); a batch of maxPageSize distinct keys (a full page of
	// totpEnabled) is read at once.
	Wait time.Duration
}

// defaultRowWait is RowLoaders' default Wait: long enough for the resolvers of a page's
// rows, which run concurrently, to join one batch.
const defaultRowWait = 2 * time.Millisecond

var (
	_ graphql.HandlerExtension     = RowLoaders{}
	_ graphql.OperationInterceptor = RowLoaders{}
)

// ExtensionName implements graphql.HandlerExtension.
func (RowLoaders) ExtensionName() string { return "RowLoaders" }

// Validate implements graphql.HandlerExtension.
func (RowLoaders) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation puts fresh loaders in the context of each query.
func (l RowLoaders) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if l.Service == nil || oc.Operation == nil || oc.Operation.Operation != ast.Query {
		return next(ctx)
	}
	return next(context.WithValue(ctx, loadersKey{}, newLoaders(l.Service, l.Wait)))
}

type loadersKey struct{}

// loaders are one query's batchers. Their fetches run with the context of the first row that
// asks, which carries the request's principal like every other row's.
type loaders struct {
	accounts *dataloadgen.Loader[int64, *auth.Account]
	totp     *dataloadgen.Loader[int64, bool]
	// meters: each service key's meter, read once per query (servicekeys.go).
	meters meterMemos
}

func newLoaders(svc *auth.Service, wait time.Duration) *loaders {
	if wait <= 0 {
		wait = defaultRowWait
	}
	// A full page of distinct keys fills a batch, which is then read without the wait.
	opts := []dataloadgen.Option{dataloadgen.WithWait(wait), dataloadgen.WithBatchCapacity(maxPageSize)}
	return &loaders{
		accounts: dataloadgen.NewLoader(func(ctx context.Context, ids []int64) ([]*auth.Account, []error) {
			found, err := svc.AccountsByID(ctx, ids)
			if err != nil {
				return nil, []error{err}
			}
			return inOrder(ids, found, func(a *auth.Account, ok bool) error {
				if !ok { // what Service.Account answers for it
					return auth.Errorf(auth.CodeNotFound, "account not found")
				}
				return nil
			})
		}, opts...),
		totp: dataloadgen.NewLoader(func(ctx context.Context, ids []int64) ([]bool, []error) {
			states, err := svc.TOTPEnabledByUser(ctx, ids)
			if err != nil {
				return nil, []error{err}
			}
			return inOrder(ids, states, func(_ bool, ok bool) error {
				if !ok { // what Service.TOTPEnabled answers for it
					return auth.Errorf(auth.CodeNotFound, "user not found")
				}
				return nil
			})
		}, opts...),
	}
}

// inOrder lays a batch answer out in the order of keys, as dataloadgen wants it, with the
// error check gives for each key (nil errors when there is none).
func inOrder[V any](keys []int64, found map[int64]V, check func(v V, ok bool) error) ([]V, []error) {
	values := make([]V, len(keys))
	var errs []error
	for i, k := range keys {
		v, ok := found[k]
		values[i] = v
		if err := check(v, ok); err != nil {
			if errs == nil {
				errs = make([]error, len(keys))
			}
			errs[i] = err
		}
	}
	return values, errs
}

// rowLoaders answers the query's loaders when ctx is a field of a list's row; nil otherwise.
func rowLoaders(ctx context.Context) *loaders {
	l, _ := ctx.Value(loadersKey{}).(*loaders)
	if l == nil {
		return nil
	}
	for fc := graphql.GetFieldContext(ctx); fc != nil; fc = fc.Parent {
		if fc.Index != nil {
			return l
		}
	}
	return nil
}
