package redisstore

import "github.com/redis/go-redis/v9"

// Each script touches only KEYS[1], or keys that share a hash tag ({u<uid>}), so it runs
// unchanged on Redis Cluster.

// deleteIfPrefix deletes KEYS[1] and answers its value if the value, from byte ARGV[2]
// (1-based; default 1), begins with ARGV[1], and answers nil otherwise. The records put their
// owner first, so the prefix check is the ownership check, done in the same atomic step as
// the delete. (Sessions start with a version byte, so their owner is checked from byte 2.)
var deleteIfPrefix = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
local from = tonumber(ARGV[2] or '1')
if v and string.sub(v, from, from + #ARGV[1] - 1) == ARGV[1] then
	redis.call('DEL', KEYS[1])
	return v
end
return false
`)

// setIfPrefix replaces the value of KEYS[1] with ARGV[3], keeping its TTL, if the value from
// byte ARGV[2] begins with ARGV[1]; it answers 1 if it did. It never creates a key, so it
// cannot bring back a record deleted or expired meanwhile.
var setIfPrefix = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
local from = tonumber(ARGV[2])
if v and string.sub(v, from, from + #ARGV[1] - 1) == ARGV[1] then
	redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL')
	return 1
end
return 0
`)

// deleteIfEqual deletes KEYS[1] if its value is ARGV[1]: it releases a claim only if the
// claim is still the caller's.
var deleteIfEqual = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// hdelIfEqual deletes field ARGV[1] of hash KEYS[1] if its value is ARGV[2]: it releases a
// username claim only if the claim is still the caller's.
var hdelIfEqual = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
	return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
`)

// enableTOTP turns TOTP on: KEYS[1] is the user's pending enrolment, KEYS[2] the user's TOTP
// hash (one hash tag, so one slot). ARGV[1] is now (20-digit Unix nanoseconds), ARGV[2] the
// sealed secret the caller checked a code against, ARGV[3] the step that code used, ARGV[4…]
// the recovery code fields. It answers -1 if TOTP is on already, 0 if the enrolment is gone,
// expired or holds another secret, and 1 once it has moved the secret into the hash.
var enableTOTP = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then
	return -1
end
local p = redis.call('GET', KEYS[1])
if not p or string.sub(p, 1, 20) <= ARGV[1] or string.sub(p, 21) ~= ARGV[2] then
	return 0
end
redis.call('DEL', KEYS[1])
local args = {'s', ARGV[2], 't', ARGV[3]}
for i = 4, #ARGV do
	args[#args + 1] = ARGV[i]
	args[#args + 1] = ''
end
redis.call('HSET', KEYS[2], unpack(args))
return 1
`)

// useTOTPStep records ARGV[1] as the last accepted step in the TOTP hash KEYS[1] if it is
// after the one recorded: 1. A step at or before it (a replay) answers 0 and changes nothing;
// no hash (TOTP off) answers -1. One script, so of concurrent calls with one step exactly one
// answers 1.
var useTOTPStep = redis.NewScript(`
local last = redis.call('HGET', KEYS[1], 't')
if not last then
	return -1
end
if tonumber(ARGV[1]) <= tonumber(last) then
	return 0
end
redis.call('HSET', KEYS[1], 't', ARGV[1])
return 1
`)

// markDeleted turns the user record KEYS[1] into a tombstone ("!" and the record) and
// answers the record; if the record is already a tombstone it answers the tombstone
// unchanged, and if there is no record, nil. So of concurrent calls exactly one gets an
// answer that does not start with "!": the one that deletes the user.
var markDeleted = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
	return false
end
if string.sub(v, 1, 1) == '!' then
	return v
end
redis.call('SET', KEYS[1], '!' .. v, 'KEEPTTL')
return v
`)

// purgeFamily deletes the family KEYS[1] and its token set KEYS[2] (one slot, {f<fid>}) and
// answers {digests, sessions}: the digest of every refresh token the family issued (its set
// and its current one) and {id, digest, …} of its access sessions, for the caller to delete
// what lives in other slots. A family already revoked still has its token set until that
// expires, and is purged all the same.
var purgeFamily = redis.NewScript(`
local toks = redis.call('SMEMBERS', KEYS[2])
local cur = redis.call('HGET', KEYS[1], 'r')
if cur then
	toks[#toks + 1] = cur
end
local sessions = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
	if string.sub(all[i], 1, 2) == 'a:' then
		sessions[#sessions + 1] = string.sub(all[i], 3)
		sessions[#sessions + 1] = string.sub(all[i + 1], 1, 32)
	end
end
redis.call('DEL', KEYS[1], KEYS[2])
return {toks, sessions}
`)

// revokeKey marks the key record KEYS[1] revoked, if it belongs to the user whose keyHead is
// ARGV[1]: it inserts ARGV[2] (revokedMark) before the record's closing brace. It answers
// the revoked record, also when it was revoked already (a DeleteKey that failed part-way,
// or one running concurrently), and nil if there is no such record of that user. Keys have
// no TTL; KEEPTTL says that nothing else changes.
var revokeKey = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, #ARGV[1]) ~= ARGV[1] then
	return false
end
local mark = ARGV[2] .. '}'
if string.sub(v, -#mark) ~= mark then
	v = string.sub(v, 1, -2) .. mark
	redis.call('SET', KEYS[1], v, 'KEEPTTL')
end
return v
`)
