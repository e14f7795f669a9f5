package redisstore

import "github.com/redis/go-redis/v9"

// Each script touches only KEYS[1], so it runs unchanged on Redis Cluster.

// deleteIfPrefix deletes KEYS[1] and answers its value if the value begins with ARGV[1], and
// answers nil otherwise. The records put their owner first, so the prefix check is the
// ownership check, done in the same atomic step as the delete.
var deleteIfPrefix = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
	redis.call('DEL', KEYS[1])
	return v
end
return false
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
