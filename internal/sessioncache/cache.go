package sessioncache

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/token"
)

// shardCount splits the cache so that concurrent requests rarely wait for one another: an
// LRU lookup moves the entry to the front, so even a hit takes its shard's lock.
const shardCount = 32

// cache holds verified sessions by digest and users by id, each entry until its deadline.
// It knows nothing of the bus: the Store tells it when it is live (the invalidation channel
// is subscribed) and what to forget.
//
// Filling races with invalidation: a replica may read a session from Redis just before
// another replica deletes it, and receive the invalidation before it stores what it read.
// So a fill takes a snapshot of epoch before reading the store, and stores its result only
// if epoch has not moved meanwhile. epoch moves (before anything is dropped) on every
// invalidation and on every change of liveness; the check and the insert happen under the
// shard's lock, which every drop also takes, so a fill either sees the new epoch or is
// dropped after it.
type cache struct {
	ttl   time.Duration
	live  atomic.Bool
	epoch atomic.Uint64

	sessions [shardCount]shard[token.Digest, *auth.Session]
	users    [shardCount]shard[int64, *auth.User]
	// services holds verified service keys with their service accounts, by the digest of
	// the secret that found them (servicekeys.go).
	services [shardCount]shard[token.Digest, *auth.ServiceCredential]
}

type entry[V any] struct {
	val   V
	until time.Time
}

type shard[K comparable, V any] struct {
	mu  sync.Mutex
	lru *simplelru.LRU[K, entry[V]]
	// Counters, under mu: the lock is taken anyway, and a shared atomic would be a cache
	// line that every core fights over.
	hits, misses, fills, stale uint64
	_                          [40]byte // keep neighbouring shards' locks off one cache line
}

func newCache(size int, ttl time.Duration) *cache {
	c := &cache{ttl: ttl}
	per := max(1, (size+shardCount-1)/shardCount)
	for i := range shardCount {
		c.sessions[i].lru, _ = simplelru.NewLRU[token.Digest, entry[*auth.Session]](per, nil) // err only for size ≤ 0
		c.users[i].lru, _ = simplelru.NewLRU[int64, entry[*auth.User]](per, nil)
		c.services[i].lru, _ = simplelru.NewLRU[token.Digest, entry[*auth.ServiceCredential]](per, nil)
	}
	return c
}

func (c *cache) sessionShard(d token.Digest) *shard[token.Digest, *auth.Session] {
	// A digest is uniformly random: any of its bytes picks a shard.
	return &c.sessions[d[0]%shardCount]
}

func (c *cache) userShard(id int64) *shard[int64, *auth.User] {
	// Ids are sequential: mix them so that neighbours spread.
	return &c.users[(uint64(id)*0x9E3779B97F4A7C15)>>59%shardCount]
}

// get answers the live entry for k at now, dropping an expired one.
func (s *shard[K, V]) get(k K, now time.Time) (V, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lru.Get(k)
	if ok && now.Before(e.until) {
		s.hits++
		return e.val, true
	}
	if ok {
		s.lru.Remove(k)
	}
	s.misses++
	var zero V
	return zero, false
}

// put stores v for k until until, unless c's epoch has moved from epoch since the caller
// read v, or c is not live.
func (s *shard[K, V]) put(c *cache, epoch uint64, k K, v V, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.live.Load() || c.epoch.Load() != epoch {
		s.stale++
		return
	}
	s.fills++
	s.lru.Add(k, entry[V]{v, until})
}

func (s *shard[K, V]) remove(k K) {
	s.mu.Lock()
	s.lru.Remove(k)
	s.mu.Unlock()
}

func (s *shard[K, V]) purge() {
	s.mu.Lock()
	s.lru.Purge()
	s.mu.Unlock()
}

// snapshot answers the epoch to give put, and whether the cache may be used at all.
func (c *cache) snapshot() (uint64, bool) {
	e := c.epoch.Load()
	return e, c.live.Load()
}

func (c *cache) session(d token.Digest, now time.Time) (*auth.Session, bool) {
	return c.sessionShard(d).get(d, now)
}

func (c *cache) putSession(epoch uint64, s *auth.Session, now time.Time) {
	until := now.Add(c.ttl)
	if s.ExpiresAt.Before(until) {
		until = s.ExpiresAt
	}
	c.sessionShard(s.TokenDigest).put(c, epoch, s.TokenDigest, s, until)
}

func (c *cache) user(id int64, now time.Time) (*auth.User, bool) {
	return c.userShard(id).get(id, now)
}

func (c *cache) putUser(epoch uint64, u *auth.User, now time.Time) {
	c.userShard(u.ID).put(c, epoch, u.ID, u, now.Add(c.ttl))
}

// dropSession forgets one session.
func (c *cache) dropSession(d token.Digest) {
	c.epoch.Add(1)
	c.sessionShard(d).remove(d)
}

// dropUser forgets a user record.
func (c *cache) dropUser(id int64) {
	c.epoch.Add(1)
	c.userShard(id).remove(id)
}

// dropUserSessions forgets a user record and every session of that user.
func (c *cache) dropUserSessions(id int64) {
	c.epoch.Add(1)
	c.userShard(id).remove(id)
	c.dropSessionsWhere(func(s *auth.Session) bool { return s.UserID == id })
}

// dropFamilySessions forgets every access session of a refresh token family.
func (c *cache) dropFamilySessions(id int64) {
	c.epoch.Add(1)
	c.dropSessionsWhere(func(s *auth.Session) bool { return s.FamilyID == id })
}

// dropSessionsWhere forgets the sessions that match. It walks the whole session cache, which
// is fine for what calls it (ending all of a user's sessions, or a family's: rare), and keeps
// the hot path free of per-user or per-family indexes. The caller moves the epoch first.
func (c *cache) dropSessionsWhere(match func(*auth.Session) bool) {
	for i := range c.sessions {
		s := &c.sessions[i]
		s.mu.Lock()
		for _, k := range s.lru.Keys() {
			if e, ok := s.lru.Peek(k); ok && match(e.val) {
				s.lru.Remove(k)
			}
		}
		s.mu.Unlock()
	}
}

// flush forgets everything.
func (c *cache) flush() {
	c.epoch.Add(1)
	for i := range shardCount {
		c.sessions[i].purge()
		c.users[i].purge()
		c.services[i].purge()
	}
}

// setLive turns the cache on (the invalidation channel is subscribed: from now on, nothing
// can end a session without this process hearing of it) or off. Either way it starts empty:
// what was cached may have been invalidated while nobody listened.
func (c *cache) setLive(live bool) {
	if !live {
		c.live.Store(false)
	}
	c.flush()
	if live {
		c.live.Store(true)
	}
}

// Stats are the cache's counters since it was made.
type Stats struct {
	Hits, Misses uint64 // lookups answered from the cache, and not
	Fills        uint64 // records stored after a miss
	// StaleFills are misses whose answer was not stored because an invalidation (or a change
	// of liveness) came while the store was being read.
	StaleFills uint64
	Sessions   int // sessions cached now
	Users      int // users cached now
	// PublishFailures counts invalidations that could not be sent to the other replicas.
	PublishFailures uint64
}

func (c *cache) stats() Stats {
	var st Stats
	add := func(hits, misses, fills, stale uint64) {
		st.Hits += hits
		st.Misses += misses
		st.Fills += fills
		st.StaleFills += stale
	}
	for i := range shardCount {
		s, u := &c.sessions[i], &c.users[i]
		s.mu.Lock()
		add(s.hits, s.misses, s.fills, s.stale)
		st.Sessions += s.lru.Len()
		s.mu.Unlock()
		u.mu.Lock()
		add(u.hits, u.misses, u.fills, u.stale)
		st.Users += u.lru.Len()
		u.mu.Unlock()
	}
	return st
}

// Invalidation messages, as published on the bus: a kind byte and its subject. They carry
// digests and ids, never a token.
const (
	msgSession      = 's' // + 32-byte digest: the session has ended
	msgUser         = 'u' // + uvarint user id: the user record has changed or gone
	msgUserSessions = 'a' // + uvarint user id: as msgUser, and all the user's sessions ended
	msgFamily       = 'f' // + uvarint family id: every access session of the family ended
	msgServiceKey   = 'k' // + uvarint service key id: the key changed or is gone
	msgServiceAcct  = 'g' // + uvarint service account id: it, and so all its keys, changed or went
)

func sessionMsg(d token.Digest) []byte { return append([]byte{msgSession}, d[:]...) }

func userMsg(kind byte, id int64) []byte {
	return binary.AppendUvarint([]byte{kind}, uint64(id))
}

// apply acts on one message from the bus. A message it cannot read, perhaps from a newer
// replica, flushes the whole cache: forgetting too much is safe, too little is not.
func (c *cache) apply(msg []byte) {
	if len(msg) == 0 {
		c.flush()
		return
	}
	switch kind, body := msg[0], msg[1:]; kind {
	case msgSession:
		if len(body) == len(token.Digest{}) {
			c.dropSession(token.Digest(body))
			return
		}
	case msgUser, msgUserSessions, msgFamily, msgServiceKey, msgServiceAcct:
		id, n := binary.Uvarint(body)
		if n == len(body) && n > 0 {
			switch kind {
			case msgServiceKey:
				c.dropServiceKey(int64(id))
			case msgServiceAcct:
				c.dropServiceAccount(int64(id))
			case msgUser:
				c.dropUser(int64(id))
			case msgUserSessions:
				c.dropUserSessions(int64(id))
			default:
				c.dropFamilySessions(int64(id))
			}
			return
		}
	}
	c.flush()
}
