-- Extend a live lease. KEYS[1] lease zset. ARGV[1] lease id, ARGV[2] now ms, ARGV[3] ttl ms.
-- Returns the new expiry in ms, or 0 when the lease is unknown or already expired.
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
local now = tonumber(ARGV[2])
if not score or tonumber(score) <= now then return 0 end
local expires = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], 'XX', expires, ARGV[1])
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], tonumber(newest[2]) + 1000)
return expires
