-- Move one key from the listing indexes to the deleted index. KEYS[1..11] as in
-- index_upsert.lua, KEYS[12] today's cost, KEYS[13] deleted keys (zset: id -> deleted at ms).
-- ARGV[1] key id  ARGV[2] tag set prefix  ARGV[3] account key set prefix  ARGV[4] deleted at ms
-- ARGV[5] the record's revision after the delete: kept, so a late index write of an earlier
-- revision (an update racing the delete) cannot list the key again.
-- Unlike index_remove.lua it keeps the key's applied usage request ids, so a retried usage
-- record is still applied once if the key is restored. Returns 1.
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
redis.call('HSET', KEYS[1], id, ARGV[5])
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[4], id)
redis.call('ZREM', KEYS[5], id)
redis.call('SREM', KEYS[6], id)
redis.call('ZREM', KEYS[7], id)
redis.call('HDEL', KEYS[9], id)
redis.call('HDEL', KEYS[10], id)
redis.call('ZREM', KEYS[12], id)
redis.call('ZADD', KEYS[13], ARGV[4], id)
return 1
