-- Ids of keys that are past their expiry but still active.
-- KEYS[1] expires  KEYS[2] disabled. ARGV[1] now ms.
local ids = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  if redis.call('SISMEMBER', KEYS[2], id) == 0 then table.insert(ids, id) end
end
return ids
