-- Bring one key's index entries up to date with its record. Writes carry the record's
-- revision; an older revision arriving late is ignored, so indexes never go backwards.
-- KEYS[1] revisions  KEYS[2] created  KEYS[3] by name  KEYS[4] names  KEYS[5] last used
-- KEYS[6] disabled  KEYS[7] expires  KEYS[8] tag counts  KEYS[9] key tags  KEYS[10] key accounts
-- KEYS[11] known accounts  KEYS[12] the change stream every instance's listing index follows
-- ARGV[1] key id  ARGV[2] revision  ARGV[3] lowercase name  ARGV[4] tags (JSON)  ARGV[5] '1' active
-- ARGV[6] expiry ms or ''  ARGV[7] created ms  ARGV[8] last used ms  ARGV[9] accounts (JSON)
-- ARGV[10] tag set prefix  ARGV[11] account key set prefix (both carry this script's hash tag)
-- ARGV[12] the change stream's approximate length cap
-- Returns 1 when applied (and announced on the stream), 0 for a late older revision.
local id = ARGV[1]
if tonumber(redis.call('HGET', KEYS[1], id) or '0') >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], id, ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[7], id)
local old_name = redis.call('HGET', KEYS[4], id)
if old_name then redis.call('ZREM', KEYS[3], old_name .. '\0' .. id) end
redis.call('ZADD', KEYS[3], 0, ARGV[3] .. '\0' .. id)
redis.call('HSET', KEYS[4], id, ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[8], id)
if ARGV[5] == '1' then redis.call('SREM', KEYS[6], id) else redis.call('SADD', KEYS[6], id) end
if ARGV[6] == '' then redis.call('ZREM', KEYS[7], id) else redis.call('ZADD', KEYS[7], ARGV[6], id) end

for _, tag in ipairs(cjson.decode(redis.call('HGET', KEYS[9], id) or '[]')) do
  redis.call('SREM', ARGV[10] .. tag, id)
  if tonumber(redis.call('ZINCRBY', KEYS[8], -1, tag)) <= 0 then redis.call('ZREM', KEYS[8], tag) end
end
for _, tag in ipairs(cjson.decode(ARGV[4])) do
  redis.call('SADD', ARGV[10] .. tag, id)
  redis.call('ZINCRBY', KEYS[8], 1, tag)
end
redis.call('HSET', KEYS[9], id, ARGV[4])

for _, account in ipairs(cjson.decode(redis.call('HGET', KEYS[10], id) or '[]')) do
  redis.call('SREM', ARGV[11] .. account, id)
end
for _, account in ipairs(cjson.decode(ARGV[9])) do
  redis.call('SADD', ARGV[11] .. account, id)
  redis.call('ZADD', KEYS[11], 'NX', 0, account)
end
redis.call('HSET', KEYS[10], id, ARGV[9])
redis.call('XADD', KEYS[12], 'MAXLEN', '~', ARGV[12], '0-*', 'o', 'u', 'i', id, 'n', ARGV[3],
  't', ARGV[4], 'a', ARGV[5], 'e', ARGV[6], 'c', ARGV[7], 'l', ARGV[8])
return 1
