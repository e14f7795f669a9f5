// Package keymeter meters the requests of service keys (machines that send x-api-key): a
// per-key rate limit, a per-key quota that may refill per period, and usage (requests
// allowed and refused per key per hour for the last 30 days, and when the key was last
// used). The request path calls Meter.Take once per x-api-key request and answers 429
// (Decision.Limited, with RetryAfter) or 403 QUOTA_EXCEEDED (Decision.QuotaExceeded); the
// GraphQL layer reads Meter.Usage.
//
// Three meters pass one conformance suite and a model-based test: Redis (exact, one round
// trip per Take), Leased (on Redis, most Takes of a busy key without a round trip) and
// Memory (in process, for the embedded store).
//
// # Semantics
//
// The rate limit is GCRA: Burst requests at once, then one per Period/Rate, the interval
// rounded up to the microsecond (so never more than Rate per Period). The quota counts the
// allowed requests of a window: one that never ends (QuotaPeriod 0), or fixed windows of
// QuotaPeriod aligned to the Unix epoch (a day's quota starts again at 00:00 UTC). The quota
// is checked first: a request over it costs no rate-limit token, and one refused by the rate
// limit spends no quota; a refused request is still counted in usage, as refused, and sets
// lastUsed. Changing a key's Quota applies at once to what it has spent (raising it gives
// the difference); ResetQuota spends nothing again. Usage keeps the current hour and the
// 719 before it.
//
// # Redis: one script, one hash tag
//
// A Take is one EVALSHA of one Lua script, which reads and writes the quota, the GCRA state,
// the hour's usage counter and lastUsed in one atomic step on the server: one round trip,
// and no replica can see another's half-made update, so 50 concurrent requests against a
// quota of Q allow exactly Q. The project's internal/ratelimit uses go-redis/redis_rate, whose
// GCRA script this one adapts, but calling redis_rate and then the quota and usage would be
// three round trips and not atomic together; and redis_rate reads Redis TIME, where this
// script takes the time from the caller (below).
//
// Every key of a service key is under the hash tag {sk<id>}, so the script's keys, Usage's
// pipeline and Forget's MULTI all fall in one Cluster slot: the meter works on a Redis
// Cluster unchanged (the suite runs on one under `make test-cluster`). Per service key there
// are at most 32 keys, whatever the traffic (after Forget, only the marker below):
//
//   - prefix{sk<id>}:m, a hash: tat (GCRA), qw and qu (quota window and its count), last
//     (lastUsed, ms). No TTL, since a quota that never refills must not be forgotten;
//     Forget (when the service key is deleted) removes it.
//   - prefix{sk<id>}:u0 … :u30, a ring of one hash per day (day number mod 31), fields d (the
//     day), aH and rH (allowed and refused in hour H of the day). A day's hash is emptied
//     when the ring comes round to it again, and has a TTL of 32 days and an hour from its
//     first request, so a key no longer used leaves nothing behind but its state hash.
//   - prefix{sk<id>}:gone, Forget's marker, a string with a TTL of GoneTTL (an hour).
//
// # Forget
//
// Forget (the service key was deleted) deletes the state and usage hashes and sets the marker
// in one MULTI, and every script that writes (Take, a lease, a flush, ResetQuota) checks the
// marker first and writes nothing under it. Without it, a replica that still held a lease or
// usage of the key would flush it within a second of the deletion and make the state hash
// (no TTL) and a day's hash again, about 150 B left for ever per deleted key. A forgotten id
// stays gone (ids come from a sequence and are never reused): its Takes answer
// Decision{Remaining: -1}, as for a key without limits, and count nothing, since such a
// request was authenticated from a cache that drops the deleted key within its bound (10 s,
// milliseconds when the deletion's message arrives) and refusing it is authentication's job,
// not the meter's. The marker's hour is far longer than anything a replica may still send
// after the deletion (a lease's TTL, the next flush and its timeout, that cache bound) and
// short enough not to become a leak of its own. A replica holding a live lease of the key
// answers from it until it learns of the marker at its next call to Redis, at most a TTL.
//
// A day of 24 hours stays a compact listpack (48 fields, under Redis's 128); BenchmarkUsage-
// Layouts measured the choices by MEMORY USAGE with every hour of 30 days used: 11.8 B per
// key-hour for the ring, 51.6 for one hash per key (720 fields turn it into a hash table) and
// 102.6 for one key per hour with an EXPIRE. Through the meter, with allowed and refused
// counts, BenchmarkRedisBytes measured 136 B for the state hash and 19.1 B per key-hour
// (13.9 KB for a key busy every hour of 30 days).
//
// # Time
//
// The script gets the time from the meter's injected clock, not Redis TIME, so tests move a
// fake clock instead of sleeping, and Redis and Memory agree to the microsecond. The price is
// that replicas' clocks must agree: to a replica whose clock is ahead by s, the bucket looks
// s fuller, so it may allow up to s·Rate/Period requests more than the limit, and one behind
// refuses up to s longer; quota windows and hours change when each replica's clock says so. With NTP the skew is
// milliseconds, which is nothing against limits counted per second or longer. Lua's numbers
// are doubles: times are whole microseconds since the epoch, and Limits.Validate keeps every
// sum under 2^53, so the arithmetic is exact.
//
// # Leases
//
// One round trip per request is measurable: BenchmarkRedisTake puts the exact Take at 19 to
// 30 µs of the server's CPU and as much of Redis's (runs on the shared 2-core development
// machine), two to three times a plain GET, against about 67 µs of CPU for a whole
// unauthenticated request on the same machine (docs/scaling.md); so a request that pays for
// it reaches only about 0.55 to 0.65 of an unauthenticated request's throughput when the
// CPU is the limit, short of 0.80. Leased serves a
// busy key from leases instead. A lease is a number of requests granted to one replica by
// one script call, charged to the shared GCRA and quota when granted; the replica answers
// from it without Redis until it is used up or TTL (1 s) passes, asking for twice as many as
// the key used from the previous lease (at most MaxLease, 64, and half the burst). Usage is
// counted in process and written with the next lease or by the flusher (every second, and
// on Close), with the unused requests of expired leases, which go back to the bucket and the
// quota. A refusal from Redis is answered in process until its RetryAfter (at most a TTL,
// so an admin's ResetQuota is seen within a second). A key without limits never waits for
// Redis. BenchmarkLeasedTake measured 0.016 round trips and 1.2 to 1.7 µs of CPU (server and
// Redis) per Take on a busy key, about 0.97 of the unauthenticated throughput by the same
// arithmetic.
//
// What a lease costs in exactness, across any number of replicas:
//
//   - Quota: never exceeded. A request is charged before it is used, and a lease ends with
//     its quota window, so no window allows more than Quota. Requests leased and not used
//     are kept from the other replicas until the lease expires (at most MaxLease per
//     replica, for at most TTL), so a replica may be refused up to that many requests early.
//     The exception is ResetQuota: other replicas may still use what they were granted before
//     it, at most a lease each.
//   - Rate: a request granted at t is charged to the shared bucket at t and used before
//     t+TTL, so the requests used in any span w were charged within w+TTL, and GCRA bounds
//     those: at most Burst + (w+TTL)·Rate/Period, an overshoot of at most TTL's worth of the
//     rate (a limit of 100/s with TTL 1 s allows at most 100 extra in any span, and over a
//     long span the average still holds). TestLeasedRateBoundAcrossReplicas checks the bound
//     for three replicas; with one replica a Leased meter answers exactly as Redis does (the
//     model test checks it).
//   - Usage and lastUsed reach Redis up to FlushEvery late from the other replicas; Usage on
//     a replica writes its own first. A failed write loses its counts rather than risk
//     counting them twice.
//
// # Memory
//
// Memory keeps the same state per key in process, at most maxKeys keys, the least recently
// used evicted first. Evicting a key forgets its quota, so maxKeys must exceed the number of
// service keys in use (the embedded store is for small deployments). It remembers the last
// maxKeys forgotten ids, so that a Take racing a deletion does not make the key again; one
// older than that is at worst metered again and evicted in turn.
//
// # Redis down
//
// A Redis error is returned wrapped with auth.ErrUnavailable (a retryable 503): whether a
// request may go on unmetered is the caller's decision. Invalid Limits are ErrInvalidLimits.
package keymeter
