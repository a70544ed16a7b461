-- Remove one key from every index. KEYS as in index_upsert.lua, plus KEYS[12] today's cost.
-- ARGV[1] key id  ARGV[2] tag set prefix  ARGV[3] account key set prefix
-- ARGV[4] prefix of the key's set of applied usage request ids
local id = ARGV[1]
local name = redis.call('HGET', KEYS[4], id)
if name then redis.call('ZREM', KEYS[3], name .. '\0' .. id) end
for _, tag in ipairs(cjson.decode(redis.call('HGET', KEYS[9], id) or '[]')) do
  redis.call('SREM', ARGV[2] .. tag, id)
  if tonumber(redis.call('ZINCRBY', KEYS[8], -1, tag)) <= 0 then redis.call('ZREM', KEYS[8], tag) end
end
for _, account in ipairs(cjson.decode(redis.call('HGET', KEYS[10], id) or '[]')) do
  redis.call('SREM', ARGV[3] .. account, id)
end
redis.call('HDEL', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[4], id)
redis.call('ZREM', KEYS[5], id)
redis.call('SREM', KEYS[6], id)
redis.call('ZREM', KEYS[7], id)
redis.call('HDEL', KEYS[9], id)
redis.call('HDEL', KEYS[10], id)
redis.call('ZREM', KEYS[12], id)
redis.call('DEL', ARGV[4] .. id)
return 1
