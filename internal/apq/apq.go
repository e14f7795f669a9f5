// Package apq keeps Automatic Persisted Queries (Apollo's APQ protocol, served by gqlgen's
// extension.AutomaticPersistedQuery): a client sends the SHA-256 of a query instead of the
// query; on a miss it sends both once, and every replica can answer the hash alone from then
// on.
//
// Two stores: Redis (shared by every replica, so a query registered on one is known to all;
// entries expire TTL after their last use) and an in-process LRU for the embedded store.
//
// Only valid queries are kept. gqlgen stores a query as soon as its hash checks out, before
// parsing it, which would let an anonymous client fill Redis with any text it likes under
// the right hashes. Here the Cache handed to gqlgen only reads; Register, called once the
// operation has parsed and validated against the schema, writes. Queries larger than
// MaxQueryBytes are not kept (the client simply keeps sending them in full).
package apq

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/redis/go-redis/v9"
)

// MaxQueryBytes is the largest query kept.
const MaxQueryBytes = 16 << 10

// DefaultLRUSize is how many queries the in-process store keeps.
const DefaultLRUSize = 1000

// Backend is where persisted queries live.
type Backend interface {
	graphql.Cache[string]
}

// Results reported to an observer.
const (
	ResultHit   = "hit"
	ResultMiss  = "miss"
	ResultStore = "store"
)

// Store is a persisted query store: Reader gives gqlgen its read-only view, Register keeps a
// validated query.
type Store struct {
	backend Backend
	observe func(result string)
}

// New wraps backend. observe, if not nil, is told each hit, miss and store.
func New(backend Backend, observe func(result string)) *Store {
	if observe == nil {
		observe = func(string) {}
	}
	return &Store{backend: backend, observe: observe}
}

// NewMemory is a Store in an in-process LRU of size entries.
func NewMemory(size int, observe func(string)) *Store {
	if size <= 0 {
		size = DefaultLRUSize
	}
	return New(lru.New[string](size), observe)
}

// Reader is the graphql.Cache to give extension.AutomaticPersistedQuery: it answers
// lookups and ignores gqlgen's own stores (see the package doc).
func (s *Store) Reader() graphql.Cache[string] { return reader{s} }

// Register keeps query under its hash. Call it only for an operation that has validated.
func (s *Store) Register(ctx context.Context, hash, query string) {
	if !validHash(hash) || len(query) > MaxQueryBytes {
		return
	}
	s.backend.Add(ctx, hash, query)
	s.observe(ResultStore)
}

type reader struct{ s *Store }

func (r reader) Get(ctx context.Context, hash string) (string, bool) {
	if !validHash(hash) {
		r.s.observe(ResultMiss)
		return "", false
	}
	q, ok := r.s.backend.Get(ctx, hash)
	if ok {
		r.s.observe(ResultHit)
	} else {
		r.s.observe(ResultMiss)
	}
	return q, ok
}

func (reader) Add(context.Context, string, string) {}

// validHash reports whether h is a SHA-256 in lower-case hex, as APQ sends it: anything else
// never reaches a store's key space.
func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Redis keeps persisted queries in Redis under prefix + "apq:" + hash, each for ttl after its
// last use. A Redis failure is a miss (the client then sends the full query) and a skipped
// store: APQ is an optimisation, never a reason to fail a request.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
	onErr  func(error)
}

// NewRedis makes a Redis backend. onErr, if not nil, is told each Redis failure.
func NewRedis(rdb redis.UniversalClient, prefix string, ttl time.Duration, onErr func(error)) *Redis {
	if onErr == nil {
		onErr = func(error) {}
	}
	return &Redis{rdb: rdb, prefix: prefix + "apq:", ttl: ttl, onErr: onErr}
}

// Get answers the query and restarts its TTL.
func (r *Redis) Get(ctx context.Context, hash string) (string, bool) {
	q, err := r.rdb.GetEx(ctx, r.prefix+hash, r.ttl).Result()
	if err != nil {
		if err != redis.Nil {
			r.onErr(err)
		}
		return "", false
	}
	return q, true
}

// Add keeps the query for ttl.
func (r *Redis) Add(ctx context.Context, hash, query string) {
	if err := r.rdb.Set(ctx, r.prefix+hash, query, r.ttl).Err(); err != nil {
		r.onErr(err)
	}
}
