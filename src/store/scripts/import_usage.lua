-- Write part of an imported key's usage buckets, while the key does not exist yet (its record
-- is written last, by import_key.lua). Counters are set, not added, so writing a part again
-- (a run cut short, then run again) gives the same values. Every key carries the key's hash tag.
-- KEYS[1] key hash (only checked)  KEYS[2] period index (usage key -> expiry ms)
-- KEYS[3..] buckets (a bucket may come in several parts, in this call or another)
-- ARGV for each bucket in order: its expiry ms ('' = none), its number C of counter/value
-- pairs, the pairs.
-- Returns 0 when the key exists (nothing written), else 1.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local at = 1
for k = 3, #KEYS do
  local expires, count = ARGV[at], tonumber(ARGV[at + 1])
  at = at + 2
  if count > 0 then
    redis.call('HSET', KEYS[k], unpack(ARGV, at, at + 2 * count - 1))
    if expires ~= '' then
      redis.call('PEXPIREAT', KEYS[k], expires)
      redis.call('ZADD', KEYS[2], expires, KEYS[k])
    end
  end
  at = at + 2 * count
end
return 1
