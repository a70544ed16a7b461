-- Bring one key's index entries up to date with its record, and announce them on the change
-- stream the instances' in-process listing indexes follow (name search, tag and status filters
-- and every sort run there, so Redis keeps no name or tag index). Writes carry the record's
-- revision; an older revision arriving late is ignored, so indexes never go backwards.
-- KEYS[1] rows (hash: id -> 'revision:created ms \t lowercase name \t tags JSON \t accounts JSON')
-- KEYS[2] the previous releases' created zset (the created time is in the row now: a key still
-- there leaves it)  KEYS[3] last used  KEYS[4] disabled  KEYS[5] expires  KEYS[6] known accounts
-- KEYS[7] the change stream
-- KEYS[8..11] the previous-but-one release's per-key hashes (revisions, names, key tags, key
-- accounts): a key still in them is read from them this once and moved to its row.
-- A row of the previous release ('revision \t ...', no created time) is read the same way
-- (the revision is the digits at its start) and rewritten in the new form.
-- ARGV[1] key id  ARGV[2] revision  ARGV[3] lowercase name  ARGV[4] tags (JSON)  ARGV[5] '1' active
-- ARGV[6] expiry ms or ''  ARGV[7] created ms  ARGV[8] last used ms ('0': never)
-- ARGV[9] accounts (JSON)  ARGV[10] account key set prefix (carries this script's hash tag)
-- ARGV[11] the change stream's approximate length cap
-- Returns 1 when applied (and announced on the stream), 0 for a late older revision.
local id = ARGV[1]
local row = redis.call('HGET', KEYS[1], id)
local revision, accounts
if row then
  revision, accounts = string.match(row, '^(%d+)[^\t]*\t.*\t([^\t]*)$')
else
  revision, accounts = redis.call('HGET', KEYS[8], id), redis.call('HGET', KEYS[11], id)
end
if tonumber(revision or '0') >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], id,
  table.concat({ARGV[2] .. ':' .. ARGV[7], ARGV[3], ARGV[4], ARGV[9]}, '\t'))
if not row then
  for i = 8, 11 do redis.call('HDEL', KEYS[i], id) end
end
redis.call('ZREM', KEYS[2], id)
-- A key never used has no last-use entry: the listing reads its absence as 0.
if ARGV[8] ~= '0' then redis.call('ZADD', KEYS[3], ARGV[8], id) end
if ARGV[5] == '1' then redis.call('SREM', KEYS[4], id) else redis.call('SADD', KEYS[4], id) end
if ARGV[6] == '' then redis.call('ZREM', KEYS[5], id) else redis.call('ZADD', KEYS[5], ARGV[6], id) end

for _, account in ipairs(cjson.decode(accounts or '[]')) do
  redis.call('SREM', ARGV[10] .. account, id)
end
for _, account in ipairs(cjson.decode(ARGV[9])) do
  redis.call('SADD', ARGV[10] .. account, id)
  redis.call('ZADD', KEYS[6], 'NX', 0, account)
end
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[11], '0-*', 'o', 'u', 'i', id, 'n', ARGV[3],
  't', ARGV[4], 'a', ARGV[5], 'e', ARGV[6], 'c', ARGV[7], 'l', ARGV[8])
return 1
