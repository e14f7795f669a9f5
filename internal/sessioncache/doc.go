// Package sessioncache keeps verified sessions and their users in process memory, so that
// the check of a session token on every request costs no Redis round trip, while a session
// ended on any replica is refused on every replica within milliseconds.
//
// Store decorates an auth.Store. SessionByDigest and User answer from a bounded LRU cache
// (Options.Size entries of each, least recently used evicted first), each entry for at most
// Options.TTL (default 10 s) and never past the session's own expiry. Everything else passes
// through. Only found records are cached: an unknown token always asks the store, so a
// flood of made-up tokens costs what it costs without a cache and evicts nothing.
//
// # Invalidation
//
// Every method that ends a session or changes a user forgets the record locally and
// publishes a message on a Bus (RedisBus: a Redis pub/sub channel, by default the key
// prefix + "inval") to which every replica subscribes. A message carries a token digest or a
// user id, never a token. The cache of a replica is in use only while its subscription is
// confirmed:
//
//   - until the first subscription, after a dropped connection, and after a subscription
//     that stays silent (no answer to PING within twice the bus's health interval, one
//     second by default), the cache is flushed and bypassed: every request asks Redis, as
//     without a cache, until the subscription is back; it is flushed again then, because
//     messages sent meanwhile were lost;
//   - a message the replica cannot read flushes the whole cache;
//   - if a message is lost without the connection failing (which Redis's pub/sub does not
//     do short of a bug), the TTL still bounds how long the ended session is accepted;
//   - a read that races with an invalidation (read from Redis before the delete, stored
//     after the message) is not stored: see cache.
//
// A publish that fails (Redis down just after the delete that it follows) is counted and
// reported to Options.OnEvent; the other replicas' subscriptions then fail too in practice,
// and the TTL bounds the rest.
//
// # Which store methods must publish
//
// Store defines only the methods it changes, and embeds the wrapped store's areas
// (auth.UserStore, auth.SessionStore…) for the rest, which pass through untouched. What keeps
// a new store method from bypassing invalidation is a test: TestEveryStoreMethodIsClassified
// sorts every method of auth.Store as passthrough, cached or invalidating, fails for one it
// does not know, and checks that Store defines exactly the cached and invalidating ones (a
// new area of auth.Store does not compile here until it is embedded).
//
// The rule: a method that ends a session, or that changes or removes anything of a user
// that Authenticate reads (the user record: role, password hash, disabled state, tenant…),
// must, after the wrapped store succeeds — and also when it fails in a way that may have
// done the change (ErrUnavailable) — call:
//
//	EndSessions(ctx, digests...)  one or more sessions whose digests are known
//	EndFamily(ctx, familyID)      every access session of a refresh token family
//	EndUserSessions(ctx, userID)  all of a user's sessions, or some whose digests are not
//	                              known (also forgets the user record)
//	UserChanged(ctx, userID)      the user record changed or is gone
//
// Now:
//
//   - DeleteSession: EndSessions; EndUserSessions when the store failed uncertainly;
//   - RevokeFamily, and a Rotate that finds a reused refresh token: EndFamily (also when they
//     fail uncertainly);
//   - DeleteUser, DeleteSessionsOf and DeleteKey (which ends the key's sessions itself):
//     EndUserSessions;
//   - SetPasswordHash and UpdateUser (role, password, disabled…): UserChanged;
//   - TouchSession: EndSessions, because the idle timeout reads LastUsedAt: no replica may
//     judge a session idle on an older LastUsedAt than the store's. The service touches a
//     session at most once a minute, so this costs each replica one more read per active
//     session and minute.
//
// UpdateKey needs nothing: keys are not cached. CreateSession, CreateFamily and Rotate pass
// straight through, and so does the check of the credentials they run after writing (see
// auth.SessionStore.CreateSession): the wrapped store reads the user and the key itself,
// never through this cache, whose copy may be older than a revocation. A rotation proper
// ends no session (the earlier access session lives out its short life). Accounts and TOTP
// state are not read by Authenticate, so their methods pass through. A method that other
// work adds must follow the rule: any new way to end sessions, or to change what
// Authenticate reads of a session or a user, publishes.
//
// Service keys (x-api-key) are cached the same way (servicekeys.go): ServiceKeyByDigest answers
// a verified key with its service account from the cache, and UpdateServiceKey,
// DeleteServiceKey (ServiceKeyChanged), UpdateServiceAccount and DeleteServiceAccount
// (ServiceAccountChanged, which drops every key of it) publish, also when they fail
// uncertainly; so a deleted, rerolled or disabled key is refused on every replica within the
// bound of a session.
//
// A session that merely expires needs no message: entries never outlive ExpiresAt.
package sessioncache
