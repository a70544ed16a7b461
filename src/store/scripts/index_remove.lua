-- Take one key out of every listing index: for good (an erase), or into the deleted index (a
-- soft delete). KEYS[1..11] as in index_upsert.lua, KEYS[12] today's cost, KEYS[13] deleted keys
-- (zset: id -> deleted at ms), KEYS[14] the listing change stream.
-- ARGV[1] key id  ARGV[2] tag set prefix  ARGV[3] account key set prefix  ARGV[4] 'erase' | 'soft'
-- ARGV[7] the change stream's approximate length cap
-- erase: ARGV[5] prefix of the key's set of applied usage request ids (deleted with it); ARGV[6] ''.
-- soft:  ARGV[5] deleted at ms  ARGV[6] the record's revision after the delete: kept, so a late
--        index write of an earlier revision (an update racing the delete) cannot list the key
--        again; the applied usage request ids are kept too, so a retried usage record is still
--        applied once if the key is restored.
-- Returns 1.
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
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[4], id)
redis.call('ZREM', KEYS[5], id)
redis.call('SREM', KEYS[6], id)
redis.call('ZREM', KEYS[7], id)
redis.call('HDEL', KEYS[9], id)
redis.call('HDEL', KEYS[10], id)
redis.call('ZREM', KEYS[12], id)
if ARGV[4] == 'soft' then
  redis.call('HSET', KEYS[1], id, ARGV[6])
  redis.call('ZADD', KEYS[13], ARGV[5], id)
else
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[13], id)
  redis.call('DEL', ARGV[5] .. id)
end
redis.call('XADD', KEYS[14], 'MAXLEN', '~', ARGV[7], '0-*', 'o', 'r', 'i', id)
return 1
