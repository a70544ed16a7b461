-- Counts one attempt in every counter, or in none when any counter is at its limit, so
-- parallel attempts can never get past a limit between a check and an increment.
-- KEYS[1..n]: attempt counters (integers), all in one hash slot.
-- ARGV[1]: the period in seconds; a counter's period starts with its first attempt.
-- ARGV[1 + i]: the limit of KEYS[i] (attempts allowed per period).
-- Reply: 0 when the attempt is allowed (it is now counted in every counter); otherwise the
-- seconds until the longest-refusing counter's period ends (at least 1), and nothing changed.
local period = tonumber(ARGV[1])
local wait_secs = 0
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('TTL', key)
    if ttl < 1 then
      -- A counter without an expiry would refuse forever: give it the period back.
      redis.call('EXPIRE', key, period)
      ttl = period
    end
    if ttl > wait_secs then wait_secs = ttl end
  end
end
if wait_secs > 0 then return wait_secs end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('EXPIRE', key, period, 'NX')
end
return 0
