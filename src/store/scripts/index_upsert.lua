-- Bring one key's index entries up to date with its record, and announce them on the change
-- stream the instances' in-process listing indexes follow (name search, tag and status filters
-- and every sort run there, so Redis keeps no name or tag index). Writes carry the record's
-- revision; an older revision arriving late is ignored, so indexes never go backwards.
-- KEYS[1] revisions  KEYS[2] created  KEYS[3] names  KEYS[4] last used  KEYS[5] disabled
-- KEYS[6] expires  KEYS[7] key tags  KEYS[8] key accounts  KEYS[9] known accounts
-- KEYS[10] the change stream
-- ARGV[1] key id  ARGV[2] revision  ARGV[3] lowercase name  ARGV[4] tags (JSON)  ARGV[5] '1' active
-- ARGV[6] expiry ms or ''  ARGV[7] created ms  ARGV[8] last used ms  ARGV[9] accounts (JSON)
-- ARGV[10] account key set prefix (carries this script's hash tag)
-- ARGV[11] the change stream's approximate length cap
-- Returns 1 when applied (and announced on the stream), 0 for a late older revision.
local id = ARGV[1]
if tonumber(redis.call('HGET', KEYS[1], id) or '0') >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], id, ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[7], id)
redis.call('HSET', KEYS[3], id, ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[8], id)
if ARGV[5] == '1' then redis.call('SREM', KEYS[5], id) else redis.call('SADD', KEYS[5], id) end
if ARGV[6] == '' then redis.call('ZREM', KEYS[6], id) else redis.call('ZADD', KEYS[6], ARGV[6], id) end
if ARGV[4] == '[]' then redis.call('HDEL', KEYS[7], id) else redis.call('HSET', KEYS[7], id, ARGV[4]) end

for _, account in ipairs(cjson.decode(redis.call('HGET', KEYS[8], id) or '[]')) do
  redis.call('SREM', ARGV[10] .. account, id)
end
for _, account in ipairs(cjson.decode(ARGV[9])) do
  redis.call('SADD', ARGV[10] .. account, id)
  redis.call('ZADD', KEYS[9], 'NX', 0, account)
end
if ARGV[9] == '[]' then redis.call('HDEL', KEYS[8], id) else redis.call('HSET', KEYS[8], id, ARGV[9]) end
redis.call('XADD', KEYS[10], 'MAXLEN', '~', ARGV[11], '0-*', 'o', 'u', 'i', id, 'n', ARGV[3],
  't', ARGV[4], 'a', ARGV[5], 'e', ARGV[6], 'c', ARGV[7], 'l', ARGV[8])
return 1
