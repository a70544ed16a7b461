-- Free one lease, or (ARGV[1] = '') every lease, of a key, and tell the first waiter for a slot.
-- KEYS[1] lease zset (lease id -> expiry ms)   KEYS[2] waiters zset
-- ARGV[1] lease id, or '' for all   ARGV[2] now ms   ARGV[3] the wake channel
-- Returns how many live leases were freed.
local freed
if ARGV[1] == '' then
  freed = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], '+inf')
  redis.call('DEL', KEYS[1])
else
  freed = redis.call('ZREM', KEYS[1], ARGV[1])
end
if freed > 0 then
  local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if head then redis.call('PUBLISH', ARGV[3], head) end
end
return freed
