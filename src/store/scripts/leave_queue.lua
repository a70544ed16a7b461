-- A waiter gives up its place in a key's queue (its wait ran out); the next one, now first, is
-- told, since a free slot may have been held back for the one leaving.
-- KEYS[1] waiters zset   ARGV[1] the waiter's member   ARGV[2] the wake channel
-- Returns 1 when the waiter was still queued, else 0.
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
if head then redis.call('PUBLISH', ARGV[2], head) end
return removed
