-- Mark a key deleted, keeping its record and usage. KEYS[1] key hash.
-- ARGV[1] now ms   ARGV[2] who deleted it
-- Returns false for an unknown or already deleted key, else {secret hash, previous secret
-- hash or '', the new revision} so the caller can drop the lookups and move the index entries.
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'deletedAt') == 1 then
  return false
end
redis.call('HSET', KEYS[1], 'deletedAt', ARGV[1], 'deletedBy', ARGV[2], 'updatedAt', ARGV[1])
-- A new revision, so every instance's cached copy of the record is refreshed.
local revision = redis.call('HINCRBY', KEYS[1], 'rev', 1)
local f = redis.call('HMGET', KEYS[1], 'hash', 'prevHash')
return {f[1] or '', f[2] or '', tostring(revision)}
