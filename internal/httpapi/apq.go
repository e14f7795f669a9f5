package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/rs/zerolog"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/authgraph/authgraph/internal/apq"
	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/errmap"
	"github.com/authgraph/authgraph/internal/ratelimit"
)

// MsgInlineCredential answers a document sent for persisting that writes a credential into
// its text.
const MsgInlineCredential = "This operation carries a credential inline: send it in variables to use persisted queries."

// APQLimiter counts persisted query use per client address (ratelimit.Policy). Each method
// answers nil, a *ratelimit.LimitedError, or another error when it cannot count.
type APQLimiter interface {
	CheckPersistedQueryLookup(ctx context.Context, ip string) error
	CheckPersistedQueryRegistration(ctx context.Context, ip string) error
}

// usePersistedQueries turns on Automatic Persisted Queries (Apollo's protocol, in place of
// gqlgen's extension.AutomaticPersistedQuery, whose cache is written before the document
// has even parsed and whose lookups cannot be refused with a limit). lim nil: no limits
// (AUTHGRAPH_RATE_LIMITS=off).
func usePersistedQueries(srv *handler.Server, cache *apq.Cache, lim APQLimiter) {
	if cache == nil {
		return
	}
	srv.Use(persistedQueries{cache: cache, lim: lim})
}

// persistedQueries is the APQ extension:
//
//   - A hash sent alone is counted against apq:lookup:ip before it is looked up (a lookup
//     tells whether anyone sent that exact document: it must not be a free oracle), then
//     answered from the cache or with PERSISTED_QUERY_NOT_FOUND.
//   - A hash sent with its query must match it; the query then runs as any other. Once it
//     has parsed and passed validation and the shape limits (extensions registered before
//     this one), it is kept, unless it carries a credential inline (refused, not run:
//     MsgInlineCredential), does not fit the cache, or is already cached; keeping it
//     counts against apq:register:ip.
//
// When the limiter cannot answer (Redis down), the request goes on as if it had not used
// persisted queries: a lookup is a miss (the client sends the query, which runs as any
// query does), a registration is skipped. That is never worse for a client than not using
// APQ, never a 503 that a plain query would not get, and never an uncounted lookup or write.
type persistedQueries struct {
	cache *apq.Cache
	lim   APQLimiter
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
	graphql.OperationContextMutator
} = persistedQueries{}

func (persistedQueries) ExtensionName() string                   { return "AutomaticPersistedQuery" }
func (persistedQueries) Validate(graphql.ExecutableSchema) error { return nil }

// apqStatsKey is gqlgen's own, so that extension.GetApqStats reads ours.
const apqStatsKey = "APQ"

func (p persistedQueries) MutateOperationParameters(ctx context.Context, raw *graphql.RawParams) *gqlerror.Error {
	if raw.Extensions["persistedQuery"] == nil {
		return nil
	}
	ext, ok := raw.Extensions["persistedQuery"].(map[string]any)
	hash, hok := ext["sha256Hash"].(string)
	if !ok || (!hok && ext["sha256Hash"] != nil) {
		return gqlerror.Errorf("invalid APQ extension data")
	}
	if !isVersion1(ext["version"]) {
		return gqlerror.Errorf("unsupported APQ version")
	}
	sent := raw.Query != ""
	if sent {
		sum := sha256.Sum256([]byte(raw.Query))
		if hex.EncodeToString(sum[:]) != hash {
			return gqlerror.Errorf("provided APQ hash does not match query")
		}
	} else {
		if p.lim != nil {
			if err := p.lim.CheckPersistedQueryLookup(ctx, auth.ClientFrom(ctx).IP); err != nil {
				if refusal := limitRefusal(ctx, err); refusal != nil {
					return refusal
				}
				zerolog.Ctx(ctx).Warn().Err(err).Msg("persisted queries: the lookup limit cannot be read; answering a miss")
				return apqNotFound()
			}
		}
		q, ok := p.cache.Get(hash)
		if !ok {
			return apqNotFound()
		}
		raw.Query = q
	}
	graphql.GetOperationContext(ctx).Stats.SetExtension(apqStatsKey, &extension.ApqStats{Hash: hash, SentQuery: sent})
	return nil
}

func (p persistedQueries) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	st := extension.GetApqStats(ctx)
	if st == nil || !st.SentQuery || oc.Doc == nil {
		return nil
	}
	if name := apq.InlineCredential(oc.Doc); name != "" {
		err := gqlerror.Errorf("%s", MsgInlineCredential)
		errcode.Set(err, errmap.GraphQL(auth.CodeInvalidInput))
		return err
	}
	if p.cache.Has(st.Hash) || !p.cache.Fits(oc.RawQuery) {
		return nil
	}
	if p.lim != nil {
		if err := p.lim.CheckPersistedQueryRegistration(ctx, auth.ClientFrom(ctx).IP); err != nil {
			if refusal := limitRefusal(ctx, err); refusal != nil {
				return refusal
			}
			zerolog.Ctx(ctx).Warn().Err(err).Msg("persisted queries: the registration limit cannot be read; not keeping the query")
			return nil
		}
	}
	p.cache.Add(st.Hash, oc.RawQuery)
	return nil
}

// limitRefusal turns a limiter's refusal into RATE_LIMITED, HTTP 429 with Retry-After; nil
// for any other error. gqlgen writes the status of an operation refused before it runs
// itself, before any response middleware could change it, so the request's status is set
// here.
func limitRefusal(ctx context.Context, err error) *gqlerror.Error {
	var le *ratelimit.LimitedError
	if !errors.As(err, &le) {
		return nil
	}
	rl := &auth.RateLimitedError{RetryAfter: le.RetryAfter(), Rule: le.Rule}
	ri := notes(ctx)
	ri.status = errmap.Of(auth.CodeRateLimited).Status
	ri.retryAfter = max(ri.retryAfter, rl.RetryAfterSeconds())
	return &gqlerror.Error{Message: auth.MsgRateLimited, Err: rl}
}

// isVersion1 reports whether v, the decoded JSON of persistedQuery.version, is 1: the only
// version of the protocol.
func isVersion1(v any) bool {
	switch v := v.(type) {
	case json.Number:
		return v.String() == "1"
	case float64:
		return v == 1
	case int64:
		return v == 1
	case int:
		return v == 1
	}
	return false
}

func apqNotFound() *gqlerror.Error {
	err := gqlerror.Errorf("PersistedQueryNotFound")
	errcode.Set(err, "PERSISTED_QUERY_NOT_FOUND")
	return err
}
