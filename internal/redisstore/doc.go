// Package redisstore keeps authgraph's accounts, users, user keys, sessions and second factors
// in Redis (one node, Sentinel or Cluster, through redis.UniversalClient). It needs Redis 7.0
// or later.
//
// # Data model
//
// Every key name starts with Options.Prefix, p below (default "ag:"). Ids are decimal.
//
//	p seq:a, p seq:u,           counters (INCR) of account, user, key and session ids
//	p seq:k, p seq:s
//	p a:<id>                    account: compact JSON {"s","n","c"} (slug, name, created)
//	p as:<slug>                 slug → account id; claimed with SET NX, so it is the lock that
//	                            makes slugs unique
//	p u:<id>                    user: compact JSON {"a","n","h","r","c","d","pv","e","ev"}
//	                            (account id, username, hash, role, created, disabled,
//	                            password version, email, email verified); "!" and the JSON
//	                            while DeleteUser runs. Emailed tokens, codes and the email
//	                            index: see emailtokens.go
//	p un:<username>             HASH account id → user id: the accounts that have a user of that
//	                            name (HKEYS, for a login that names no account) and the user in
//	                            each (HGET). A field is claimed with HSETNX, so it is the lock
//	                            that makes usernames unique within an account. One small hash per
//	                            distinct username (listpack-encoded: tens of bytes)
//	p users                     ZSET of user ids (score = id), for listing users by page
//	p k:<id>                    user key: compact JSON {"u","n","h","c","l","e","s","i","ph",
//	                            "pi","pe"}, owner first (s: scopes; i: the secret's checksum
//	                            hint; p…: the previous secret during a reroll's grace period),
//	                            and "x":true at the end while DeleteKey runs (revoked)
//	p {u<uid>}:k                SET of the user's key ids
//	p t:<digest>                session, under the 32 raw bytes of its token's SHA-256 digest:
//	                            a binary record (codec.go) that Redis expires at its ExpiresAt
//	p {u<uid>}:s                HASH session id → digest of the user's sessions; it expires with
//	                            the user's longest-lived session
//	p seq:f                     counter (INCR) of token family ids
//	p {f<fid>}                  token family (a refreshable sign-in): HASH u (user id), t (method),
//	                            k (user key id, if any), n (name, if any), c (created, Unix ns),
//	                            r (current refresh token digest, 32 bytes), e (its expiry, Unix ms),
//	                            and a:<session id> → access session digest + expiry (Unix ms) for
//	                            each unexpired access session it made; PEXPIREAT e
//	p {f<fid>}:g:<digest>       HASH d (deadline, Unix ms), s (sealed successor pair) of a refresh
//	                            token rotated less than the grace window ago; PEXPIRE the window
//	p r:<digest>                "<fid>:<expiry ms>": the family of a refresh token, current or
//	                            rotated (to recognise reuse); PEXPIREAT that token's expiry
//	p {f<fid>}:p                SET of the digests of every refresh token the family issued
//	                            (so its pointers can be deleted with it); expires with the
//	                            family's latest token
//	p {u<uid>}:f                SET of the user's family ids, expiring with the user's
//	                            latest-expiring family; pruned every 64 families
//	p replica-wait,             "1" for a minute: the marker written before a WAIT when credential
//	p replica-wait{<n>}         writes wait for replicas (one per Cluster primary); see
//	                            replicawait.go
//	p {u<uid>}:totp             HASH, while the user has TOTP on: "s" the sealed secret (see
//	                            below), "t" the last accepted 30-second step, and one empty
//	                            field per unused recovery code, named "r" + the code's 32-byte
//	                            SHA-256 digest. About 13 small fields, listpack-encoded: ~500
//	                            bytes per user with TOTP, nothing for the others. No TTL
//	p {u<uid>}:totp:new         an enrolment under way: 20 digits of its expiry in Unix
//	                            nanoseconds, then the sealed secret; Redis expires it then
//	                            (15 minutes after enableTotp)
//	p {u<uid>}:idn, p idn:…,     linked identities, authorization code flows under way and
//	p af:<digest>, p ac:<digest> the one-time codes they hand to apps: see identities.go
//	p {sk}:…, p seq:sa, p seq:sk service accounts and service keys, all under one hash tag:
//	                            see servicekeys.go
//
// The access sessions of a family are ordinary sessions (t:<digest>, listed in {u<uid>}:s)
// whose record carries the family id (codec.go).
//
// A token is never stored, only its digest, as a key name or (r, a:) a family field. The one
// exception is the successor pair of a rotation, kept for the grace window (default 10 s) so
// that concurrent refreshes with one token all get the same pair: it is AES-256-GCM ciphertext
// under a key derived from the rotated token's plaintext, which Redis never sees (see
// internal/auth/successor_seal.go). Password and secret hashes are stored as given. Recovery codes are
// stored only as SHA-256 digests. A TOTP secret is stored as the domain sealed it: AES-256-GCM
// under AUTHGRAPH_SECRET_KEY, bound to its user (internal/seal), or, without a key, in
// plaintext behind a 'P' marker.
//
// Users and keys are JSON so that an operator can read them with redis-cli; sessions, the
// only records whose number grows with traffic, are binary (codec.go). User keys have no TTL:
// a key past its ExpiresAt stays listed until its owner deletes it, and the domain refuses to
// use it.
//
// # Memory per session
//
// BenchmarkSessionMemory measures what a session costs in Redis, indexes included
// (go test -run X -bench SessionMemory -benchtime 100000x ./internal/redisstore/): about 275
// bytes at 100k sessions, with a desktop browser's user agent or a short one, so 10 million
// sessions take under 3 GB. Most of it is Redis's own cost of a key with a TTL, which the
// model keeps to one key per session:
//
//	dict entry 32 · key name 48 ("ag:t:" + 32 digest bytes) · value object 16 ·
//	value 64 · TTL entry 32 · hash table slots about 20        ≈ 210 bytes
//	the session's entry in its user's index (a small HASH, listpack-encoded: id and
//	digest) with the index's own key spread over the user's sessions  ≈ 55-65 bytes
//
// Redis allocates in size classes (jemalloc: … 48, 64, 80, 96, 112, 128, 160, 192 …), so
// what counts is which class the value lands in. The session encoding keeps a typical one
// within 60 bytes, in the 64-byte class (a JSON record with a browser's user agent takes
// some 250, in the 256 class): varints, times as a difference from the creation time (a
// 30-day expiry is 5 bytes), IP addresses as 4 or 16 bytes, and user agents coded with a
// fixed dictionary of the fragments browsers and HTTP libraries use (useragent.go: 115 bytes
// of Chrome's become 10). Times keep their nanoseconds.
//
// # Atomicity and Redis Cluster
//
// Every atomic step touches one key, or several keys of one user that share the {u<uid>} hash
// tag (and so one Cluster slot), so no operation can fail with CROSSSLOT. The record that can
// be looked up without knowing its owner (k:<id>, t:<digest>) is the point of truth; the
// per-user index is written after it and cleaned after it:
//
//   - DeleteSession runs one Lua script on the record: GET, check that the value starts with
//     the encoding of the expected owner and session id, DEL, answer the value. Of concurrent
//     calls exactly one gets the value; the others find nothing (ErrNotFound). The winner
//     then removes the index entry (HDEL). DeleteKey revokes before it deletes: see
//     "Revoking a credential".
//   - CreateKey and CreateSession write the record, then add the index entry (a MULTI for the
//     session index's HSET and its TTL), then check what the record depends on (the user;
//     for a session, its credentials: see "Revoking a credential"). If a later step fails
//     they delete what they wrote and answer the error; the caller never saw its id or token.
//   - So an index entry whose record is missing is always stale (deleted or expired), never a
//     record being made: KeysOf and SessionsOf delete such entries when they meet them, and
//     CreateSession prunes a user's session index every 64 entries. A crash between the two
//     steps of a delete can thus leave an index entry only until the next listing.
//   - CreateUser: INCR the id, claim the username in its account with HSETNX (ErrConflict if
//     taken), write the record; if that write fails, the claim is released (only if still
//     ours, by script). CreateAccount does the same with its slug and SET NX. A process that
//     dies between claim and record leaves the username taken in that account by no one
//     (UserByUsername answers ErrNotFound, though the account still counts in HKEYS);
//     HDEL p un:<username> <account id> frees it (DEL p as:<slug> for a slug).
//   - CreateUser then ZADDs the id to the users index (undoing the rest if that fails).
//   - DeleteAccount frees the slug (only if still the account's, by script) and then DELs the
//     record; the call whose DEL removed it answers the account. Accounts have no index:
//     the service lists them by id range up to seq:a (LastAccountID), GETs pipelined.
//   - RenameUser claims the new name with HSETNX (ErrConflict if taken: of racing renames
//     to one name, one wins), rewrites the record under WATCH, then releases the old name
//     (hdelIfEqual); a failed rewrite releases the new claim. The claim and the record lie
//     in different slots, so the order, not a script, keeps a name from two users:
//     UserByUsername answers only a record that carries the name it was found by.
//   - SetPasswordHash, SetKeyHash, UpdateUser and UpdateKey read, change and write the record
//     under WATCH, so an update can never bring back a record deleted meanwhile.
//   - TouchSession rewrites a session record with SET KEEPTTL in a script that first checks
//     the record is still that session's (setIfPrefix): it never revives an ended session.
//   - DeleteSessionsOf reads the user's session index and runs the DeleteSession script on
//     each record in one pipeline: each session is ended (and counted) by one caller only.
//   - UseTOTPStep is one script on {u<uid>}:totp (HGET "t", compare, HSET "t"): a step at or
//     before the last accepted one is refused, and of concurrent logins with one code exactly
//     one passes. UseRecoveryCode is one HDEL: exactly one caller hears 1. EnableTOTP is one
//     script on {u<uid>}:totp:new and {u<uid>}:totp (two keys, one slot): it checks that the
//     enrolment is unexpired and still holds the secret the code was checked against, then
//     moves it into the hash with the recovery digests and the step the code used, so at most
//     one of concurrent confirmations wins. DisableTOTP deletes both keys in one MULTI.
//
// Token families are the exception to "one key per atomic step": a rotation must read and
// change the family and its grace key together, so both carry the hash tag {f<fid>} and live
// in one slot, and the two scripts of families.go touch only keys of that slot:
//
//   - rotate: if the presented digest is the family's current one, make the successor current
//     (r, e, PEXPIREAT; SADD to the token set), register the new access session (a:<id>,
//     pruning expired ones) and
//     keep the sealed pair under the presented token's grace key; if it was rotated within the
//     window, answer that sealed pair; otherwise (a reuse) delete the family and answer its
//     access sessions. Everything a rotation writes outside the slot — the new access session
//     (t:) and the successor's pointer (r:) — is written before the script, where nothing can
//     reach it yet, and deleted again unless the script rotated. Written after the script, a
//     revocation running in between could miss the new access session.
//   - revoke: delete the family if it belongs to the user, and answer its access sessions.
//     The caller then deletes those (t: and the index entries), and then, with purgeFamily,
//     the token set and every pointer (r:) it names. Those lead to no family already, so
//     every refresh token of it is dead at the first step; deleting them only frees memory
//     (and is best effort: they expire anyway). A reuse revokes the same way.
//   - purgeFamily (DeleteUser, and after a revocation): delete the family and its token set
//     in one step and answer the digests and access sessions, which the caller deletes with
//     the grace keys. A family is listed in {u<uid>}:f after it is written (CreateFamily then
//     checks that the user still lives, as CreateSession does), so DeleteUser finds every
//     family, even one whose access sessions have all expired.
//
// Memory: a family hash is ~150 bytes plus ~50 per live access session; a grace key lives 10 s.
// The pointers are what grows: each rotation leaves the old token's pointer (~100 bytes) and
// its digest in the token set (~40 bytes) until that token would have expired, because
// presenting it again must be recognised as a reuse. A client refreshing every 15 minutes
// around the clock for the 30-day refresh lifetime keeps ~2,900 of them (~400 KB); a longer
// AUTHGRAPH_ACCESS_TOKEN_TTL means fewer, and an idle timeout shortens the refresh lifetime.
//
// # Revoking a credential
//
// A session is made from credentials: its user (who must exist and not be disabled), and a
// key (UserKeyID), a password (the user's password version, which changePassword bumps), or
// a refresh token family. Revoking a credential must end every session made from it, those
// of sign-ins still running included. A session record (t:<digest>) lives in any slot and a
// key (k:<id>) in another, so no script can cover both on a Cluster; the protocol is instead
// "change first, sweep second" against "write first, check second":
//
//   - A revocation first changes the credential, in one atomic step: DeleteKey marks the key
//     record revoked (the revokeKey script appends "x":true; the record keeps its owner
//     first, so keyHead still matches it); disabling the user and changing the password are
//     a WATCH transaction on u:<id> (UpdateUser); DeleteUser turns u:<id> into a tombstone.
//     Then it sweeps the per-user indexes: {u<uid>}:s for sessions and {u<uid>}:f for
//     families (DeleteKey ends those whose "k" field or whose sessions name the key;
//     DeleteSessionsOf and DeleteUser end them all).
//   - A creation (CreateSession, CreateFamily, and the access session of Rotate) first
//     writes its session record and index entry (and the family and its {u<uid>}:f entry),
//     then reads the credentials (checkCredentials: GET u:<id> and k:<id>, one round trip)
//     and, if one has been revoked, deletes what it wrote and answers ErrNotFound, which
//     the domain answers as INVALID_CREDENTIALS.
//
// Every command is atomic and each side runs its steps in order, so either the creation's
// check comes before the revocation's change — then its index entries were written before
// it, hence before the sweep, which finds and ends the session — or after, and the check
// sees the change. No interleaving leaves a session that outlives the revocation. A refresh
// whose rotation script runs after its family was revoked finds the family gone and undoes
// its access session (see the family scripts above); one whose access session passed its
// check before a key was revoked has that session in {u<uid>}:s, carrying the family id,
// and the key's sweep revokes the family. Should a creation's undo fail too, what stays is a
// session whose token was never handed out, which nobody can present. The argument needs
// the writes that a revocation or creation saw acknowledged to survive: a Sentinel failover
// that loses acknowledged writes can break it, as it can break every rule here.
//
// DeleteKey removes the revoked record only once the sweep is done; a call that fails
// before (ErrUnavailable) leaves it revoked: Key, KeysOf and UpdateKey treat it as absent
// (decodeKey answers errTombstone), and a retry finds it with revokeKey, sweeps again (every
// step is idempotent) and answers the key. After the sweep nothing can fail the call: the
// DEL runs on a detached context, and should it fail, the revoked record stays in its
// user's index for a later DeleteKey or DeleteUser to remove.
//
// A reroll is not a revocation (sessions made from the key go on), so a sign-in that
// verified the previous secret just before a reroll may still finish.
//
// # Deleting a user
//
// A user's records live in several slots, so DeleteUser cannot be one script. It goes:
//
//  1. markDeleted: the user record becomes a tombstone ("!" + the record) in one atomic step.
//     Of concurrent calls exactly one turns it, and wins. From here the user is not found by
//     User, UserByUsername, ListUsers or UpdateUser, so no session of theirs authenticates
//     and no login succeeds.
//  2. Purge: every token family in {u<uid>}:f (purgeFamily: the family, its token set,
//     pointers, grace keys and access sessions), every key (deleteIfPrefix on k:<id>), every
//     session (the same on t:<digest>), then in one DEL the key, session and family indexes
//     and the second factor ({u<uid>}:totp, :totp:new), the users-index entry, the username
//     claim (its account's field, only if it still names this id), and last the tombstone.
//
// Every purge step is idempotent. A DeleteUser that dies half-way leaves the tombstone, and
// the next DeleteUser of that id (which finds the tombstone and answers ErrNotFound) runs
// the purge again. CreateKey, CreateSession and CreateFamily, after writing their record and
// index entry, check that the user still lives (GET u:<id>, part of checkCredentials for
// sessions) and undo their writes if not: either the purge's listing saw their entry, or
// they see the tombstone (or nothing), so a key or session made while its user is deleted
// never stays behind. The purge deletes revoked keys as it does the others.
//
// # Expiry
//
// A family expires with its current refresh token, a pointer with its token, and both are
// also checked against the injected clock like sessions. A session expires twice: Redis deletes it at ExpiresAt by its own clock (PEXPIREAT, rounded
// up to the millisecond), and the store answers ErrNotFound for a record whose ExpiresAt has
// passed on the injected clock, whatever Redis still holds. The first frees memory; the second
// is what the domain and the tests rely on.
//
// # Errors
//
// A missing record is auth.ErrNotFound; any failure to talk to Redis wraps both
// auth.ErrUnavailable and the go-redis error; a value the store cannot decode is neither. The
// store puts no key name or value in an error, so no digest, username or hash leaks through
// one.
package redisstore
