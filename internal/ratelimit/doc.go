// Package ratelimit limits attempts at the public credential mutations (password login,
// user-key login, refresh, external login, TOTP checks) per client address and per
// account, so that guessing is slow and nobody else can lock a real user out; and the use
// of persisted queries per address.
//
// # Limiters
//
// A Limiter keeps token buckets by rule and key (Limit: Burst at once, then Rate per
// Period). RedisLimiter keeps them in Redis with go-redis's redis_rate (GCRA in one Lua
// script, atomic on the server), so every replica counts against the same limits;
// MemoryLimiter keeps them in process for the embedded store, with golang.org/x/time/rate
// and a bounded LRU. Both pass one conformance suite. Keys are stored as SHA-256 digests
// only: no username reaches a key name, and no client can choose a key's length or bytes.
// Redis key names are "<prefix>rl:<rule>:<base64url digest>", each with a TTL of its reset
// time.
//
// # Login semantics (Policy)
//
// An attempt is checked by CheckLogin before any lookup or hashing; after it, the caller
// reports LoginFailed (wrong secret, or unknown account: both count, so the limits reveal
// no account) or LoginSucceeded. Three rules apply, defaults in DefaultRules:
//
//   - login:ip (20/min): every attempt from an address, successful or not, counted
//     before the work. It is charged up front, so it holds exactly however many
//     requests arrive at once, and it bounds the argon2 work and the guesses any single
//     address can demand, across all accounts (password spraying). A successful login
//     counts too: 20 a minute is far beyond one person, but an office behind one NAT
//     address may need a higher setting.
//   - login:ip+id (5 per 15 min): failures from one address on one account. The attacker's
//     address is throttled here, hard, and only on that account. A success resets it.
//   - login:id (20 at once, then 60/hour): failures on one account from anywhere. When it
//     is empty the account is "under attack", which does not lock it: an address that is
//     clean for the account (its login:ip+id bucket is full: no failure on the account
//     since it refilled) still gets through; one that is not is refused until it is clean
//     or the account has a failure to spare. A failure from a clean address while under
//     attack drains that address's login:ip+id bucket (not just one of five), so each
//     address gets one guess per 15 minutes instead of one per 3 minutes.
//
// Only failures count against an account, so a user's own successful logins never throttle
// them, and an attacker cannot lock a user out: his addresses are refused, while the user,
// on an address he has not failed from, is let through and with the right password gets in.
// The price is that against a large botnet (many clean addresses), login:id bounds
// nothing: each fresh address gets one guess per 15 minutes. Nothing that tells addresses
// apart can do better, because the user's address is as clean as a fresh bot's; the
// defence against that is a second factor (TOTP, counted by totp:id) or device cookies
// (OWASP's "slow down online guessing attacks with device cookies"), which would exempt a
// known device from the per-account rule.
//
// The per-account rules are checked with Peek and counted after the hashing, so requests
// that arrive together, before any of their failures is recorded, can overshoot them; by
// at most the addresses' login:ip budget, since that one is charged first. A bucket's state
// is read and written by separate calls, not in one transaction: a race between them costs
// an attempt or so, never a lock-out.
//
// IPv6 addresses count by their /64, the block a single client usually has.
//
// # Other mutations
//
// CheckRefresh (refresh:ip) and CheckExternalLogin (external:ip) count every call per
// address. CheckTOTP counts against login:ip and totp:id, every check, right or wrong.
//
// # Persisted queries
//
// CheckPersistedQueryLookup (apq:lookup:ip) counts every hash-only request before the
// lookup, so that asking whether a document is cached is not a free oracle;
// CheckPersistedQueryRegistration (apq:register:ip) counts each document an address has
// kept. The cache itself is in process (internal/apq), so these limits protect each
// replica's memory and CPU; the buckets live with the others (Redis when the store is
// Redis), so an address's budget is shared by every replica it reaches. Their callers fail
// soft, unlike the login rules: when the limiter cannot answer, the request runs as if it
// had not used persisted queries (a lookup is a miss, a registration is skipped), which is
// never worse for a client than not using them, and never unlimited.
//
// # Redis down
//
// Limits fail closed: a Redis error is returned wrapped with auth.ErrUnavailable, so the
// attempt is answered 503 SERVICE_UNAVAILABLE. Failing open would switch off the protection
// when it may be most needed (an attacker who can slow Redis down), and would buy nothing:
// the store is the same Redis, so a login could not complete anyway. A 503 is retryable
// and never logs a user out.
package ratelimit
