-- Add one response's usage to a key, atomically. Every key here carries the key's hash tag.
-- KEYS[1] key hash  KEYS[2] total  KEYS[3] today  KEYS[4] this month  KEYS[5] today per model
-- KEYS[6] rate window hash  KEYS[7] lease zset  KEYS[8] period index (usage key -> expiry ms)
-- ARGV[1] now ms  ARGV[2] model  ARGV[3] lease id or ''  ARGV[4] day expiry ms  ARGV[5] month expiry ms
-- ARGV[6] all tokens of the response (for the rate window)
-- ARGV[7..] counter name, amount pairs (requests first, tokens of each kind, cost)
-- Returns {0} for an unknown key, else {1, today's cost in nano-USD}.
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local model = ARGV[2]
local all_tokens = ARGV[6]
local day_requests, month_requests = 0, 0
for i = 7, #ARGV, 2 do
  local counter, amount = ARGV[i], ARGV[i + 1]
  if amount ~= '0' then
    redis.call('HINCRBY', KEYS[2], counter, amount)
    local day = redis.call('HINCRBY', KEYS[3], counter, amount)
    local month = redis.call('HINCRBY', KEYS[4], counter, amount)
    redis.call('HINCRBY', KEYS[5], counter .. '|' .. model, amount)
    if counter == 'requests' then day_requests, month_requests = day, month end
  end
end
-- The first record of a day (or month) creates its buckets: give them their expiry and
-- remember them, so deleting the key leaves none behind.
if day_requests == 1 then
  redis.call('PEXPIREAT', KEYS[3], ARGV[4])
  redis.call('PEXPIREAT', KEYS[5], ARGV[4])
  redis.call('ZADD', KEYS[8], ARGV[4], KEYS[3], ARGV[4], KEYS[5])
  redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', ARGV[1])
end
if month_requests == 1 then
  redis.call('PEXPIREAT', KEYS[4], ARGV[5])
  redis.call('ZADD', KEYS[8], ARGV[5], KEYS[4])
end
if all_tokens ~= '0' then
  local window_end = redis.call('HGET', KEYS[6], 'end')
  if window_end and tonumber(window_end) > tonumber(ARGV[1]) then
    redis.call('HINCRBY', KEYS[6], 'tokens', all_tokens)
  end
end
redis.call('HSET', KEYS[1], 'lastUsedAt', ARGV[1])
if ARGV[3] ~= '' then redis.call('ZREM', KEYS[7], ARGV[3]) end
return {1, redis.call('HGET', KEYS[3], 'cost') or '0'}
