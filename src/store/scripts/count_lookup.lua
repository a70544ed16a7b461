-- Counts one key lookup from a client address in a fixed one-minute period, refusing past the
-- limit (the refused lookup is not counted, so a flood cannot extend its own wait).
-- KEYS[1]: the address's lookup counter.
-- ARGV[1]: limit per period; ARGV[2]: period in seconds.
-- Reply: 0 when counted (allowed), else the seconds until the period ends (>= 1).
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl < 1 then
    ttl = 1
  end
  return ttl
end
if redis.call('INCR', KEYS[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 0
