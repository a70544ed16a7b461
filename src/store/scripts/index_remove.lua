-- Take one key out of every listing index and announce it on the change stream: for good (an
-- erase), or into the deleted index (a soft delete). KEYS[1..11] as in index_upsert.lua,
-- KEYS[12] today's cost, KEYS[13] deleted keys (zset: id -> deleted at ms).
-- ARGV[1] key id  ARGV[2] account key set prefix  ARGV[3] 'erase' | 'soft'
-- ARGV[4] the change stream's approximate length cap
-- erase: ARGV[5] prefix of the key's set of applied usage request ids (deleted with it).
-- soft:  ARGV[5] deleted at ms  ARGV[6] the record's revision after the delete: kept in the
--        key's row, so a late index write of an earlier revision (an update racing the
--        delete) cannot list the key again; the applied usage request ids are kept too, so a
--        retried usage record is still applied once if the key is restored.
-- Returns 1, or 0 for a soft delete already listed at this revision.
local id = ARGV[1]
local row = redis.call('HGET', KEYS[1], id)
local revision, accounts
if row then
  revision, accounts = string.match(row, '^(%d+)[^\t]*\t.*\t([^\t]*)$')
else
  revision, accounts = redis.call('HGET', KEYS[8], id), redis.call('HGET', KEYS[11], id)
end
-- A soft delete already listed at this revision (an import run again) changes nothing, and
-- announces nothing.
if ARGV[3] == 'soft' and revision == ARGV[6] and redis.call('ZSCORE', KEYS[13], id) then
  return 0
end
for _, account in ipairs(cjson.decode(accounts or '[]')) do
  redis.call('SREM', ARGV[2] .. account, id)
end
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('SREM', KEYS[4], id)
redis.call('ZREM', KEYS[5], id)
for i = 8, 11 do redis.call('HDEL', KEYS[i], id) end
redis.call('ZREM', KEYS[12], id)
if ARGV[3] == 'soft' then
  redis.call('HSET', KEYS[1], id, ARGV[6] .. '\t\t[]\t[]')
  redis.call('ZADD', KEYS[13], ARGV[5], id)
else
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[13], id)
  redis.call('DEL', ARGV[5] .. id)
end
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[4], '0-*', 'o', 'r', 'i', id)
return 1
