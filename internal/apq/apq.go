// Package apq keeps Automatic Persisted Queries (Apollo's APQ protocol): a client sends the
// SHA-256 of a query instead of the query; on a miss it sends both once, and the hash alone is
// enough from then on.
//
// # Where the documents live
//
// In process, in a Cache per replica bounded in bytes (and each document in size), never in
// Redis. Anyone may register a document, so whatever holds them is filled by anonymous
// clients; in Redis that competed with sessions for the same memory, and under `maxmemory`
// with `noeviction` a flood of documents made sign-ins fail. In process, a flood only
// evicts other documents: the replica's memory is bounded by the Cache's budget, and Redis
// never sees an APQ write. The price is that each replica learns a document on its own: a
// replica that has not seen a hash answers PersistedQueryNotFound, and the client sends the
// query once more, as the protocol provides for.
//
// # What is kept
//
// Only documents that parsed and validated against the schema (the server registers after
// validation), no larger than MaxQueryBytes, and none that carries a credential inline
// (InlineCredential): a password written into the query text would otherwise sit in the
// cache under a hash anyone can compute from a guess.
package apq

import (
	"container/list"
	"sync"
	"time"

	"github.com/authgraph/authgraph/internal/clock"
)

// MaxQueryBytes is the largest document kept. Real operations, fragments included, are a
// few KiB; anything longer is sent in full each time.
const MaxQueryBytes = 16 << 10

// DefaultMaxBytes is the default budget of a Cache.
const DefaultMaxBytes = 4 << 20

// entryOverhead is what a cached document costs beyond its text: its hash (64 bytes), the
// map slot, the list element and the entry (about 210 bytes together, measured with
// runtime.MemStats over 100,000 entries), rounded up, so that a flood of tiny documents is
// bounded by the budget too.
const entryOverhead = 320

// Results reported to an observer.
const (
	ResultHit   = "hit"
	ResultMiss  = "miss"
	ResultStore = "store"
)

// Cache is a bounded LRU of documents by hash: at most maxBytes (documents plus
// entryOverhead each), least recently used out first; a document unused for ttl is dropped
// when next looked at. It is safe for concurrent use.
type Cache struct {
	maxBytes int
	ttl      time.Duration
	clock    clock.Clock
	observe  func(string)

	mu    sync.Mutex
	items map[string]*list.Element // of *entry
	lru   list.List                // front: most recently used
	bytes int
}

type entry struct {
	hash, query string
	used        time.Time
}

// New returns a Cache of maxBytes (<= 0: DefaultMaxBytes) whose documents expire ttl after
// their last use (<= 0: never), on clock c (nil: the wall clock). observe, if not nil, is
// told each hit, miss and store.
func New(maxBytes int, ttl time.Duration, c clock.Clock, observe func(string)) *Cache {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if c == nil {
		c = clock.Real{}
	}
	if observe == nil {
		observe = func(string) {}
	}
	return &Cache{maxBytes: maxBytes, ttl: ttl, clock: c, observe: observe, items: map[string]*list.Element{}}
}

func size(query string) int { return len(query) + entryOverhead }

// Fits reports whether a document could be kept: its size alone, so that the caller need
// not charge a registration for a document that would be refused anyway. A document may
// take at most an eighth of the budget, so that a small cache still holds several.
func (c *Cache) Fits(query string) bool {
	return len(query) <= MaxQueryBytes && size(query) <= c.maxBytes/8
}

// Get answers the document of hash, and makes it the most recently used.
func (c *Cache) Get(hash string) (string, bool) {
	if !ValidHash(hash) {
		c.observe(ResultMiss)
		return "", false
	}
	now := c.clock.Now()
	c.mu.Lock()
	el, ok := c.items[hash]
	if ok {
		e := el.Value.(*entry)
		if c.ttl > 0 && now.Sub(e.used) >= c.ttl {
			c.remove(el)
			ok = false
		} else {
			e.used = now
			c.lru.MoveToFront(el)
			q := e.query
			c.mu.Unlock()
			c.observe(ResultHit)
			return q, true
		}
	}
	c.mu.Unlock()
	c.observe(ResultMiss)
	return "", false
}

// Has reports whether hash is cached, without using it.
func (c *Cache) Has(hash string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.items[hash]
	return ok
}

// Add keeps query under hash, evicting the least recently used documents until it fits. It
// reports whether it kept it: not for a malformed hash or a document that does not Fit.
// The caller must have checked that hash is query's SHA-256.
func (c *Cache) Add(hash, query string) bool {
	if !ValidHash(hash) || !c.Fits(query) {
		return false
	}
	now := c.clock.Now()
	c.mu.Lock()
	if el, ok := c.items[hash]; ok {
		el.Value.(*entry).used = now
		c.lru.MoveToFront(el)
		c.mu.Unlock()
		return true
	}
	for c.bytes+size(query) > c.maxBytes {
		c.remove(c.lru.Back())
	}
	c.items[hash] = c.lru.PushFront(&entry{hash: hash, query: query, used: now})
	c.bytes += size(query)
	c.mu.Unlock()
	c.observe(ResultStore)
	return true
}

func (c *Cache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*entry)
	delete(c.items, e.hash)
	c.bytes -= size(e.query)
}

// Len is the number of documents kept.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// Bytes is the budget in use: documents plus their overhead.
func (c *Cache) Bytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// ValidHash reports whether h is a SHA-256 in lower-case hex, as APQ sends it: anything else
// never reaches the cache.
func ValidHash(h string) bool {
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
