// Package hashpool bounds the password hashing a process does at once.
//
// Each argon2id hash with authgraph's parameters takes about 20 MiB and 20-25 ms of one
// core. Run without a bound, 500 concurrent logins would ask for 10 GiB at once and make
// every request, authenticated ones included, wait behind them. A Pool runs at most
// `workers` hashes at once and lets at most `queue` more callers wait; the next caller
// gets ErrBusy at once (503 SERVICE_UNAVAILABLE, retryable), without waiting and without
// allocating. Memory for hashing is then at most workers × m, whatever the load: waiting
// callers hold no hashing memory, only their goroutine.
//
// Defaults: workers = GOMAXPROCS, because argon2id with p=1 keeps one core busy, so more
// workers add memory and latency but no throughput; queue = 2 × workers, so a caller that
// is admitted waits at most two hash times (about 50 ms) before its own starts: bursts of
// up to three times the core count are absorbed, and beyond that an immediate 503 is better
// than a slow answer that the client may have given up on.
//
// # Unknown ids
//
// VerifyDummy (the work spent on an unknown user or key id) goes through the pool like
// Verify, so both cost the same wait and work. When the pool is full, Verify answers
// ErrBusy; so must the dummy, or an attacker who fills the pool could tell unknown ids
// (INVALID_CREDENTIALS) from known ones (503). auth.Hasher's VerifyDummy returns nothing,
// so Pool also has VerifyDummyErr, which answers ErrBusy (or ctx's error) as Verify
// would; the domain should call that, by giving auth.Hasher's VerifyDummy an error
// result. Until then, VerifyDummy does the same work but drops that error.
package hashpool
