-- Give a key a new secret; the old one stays valid until ARGV[3]. KEYS[1] key hash.
-- ARGV[1] new secret hash   ARGV[2] now ms   ARGV[3] old secret valid until ms, or 0 for not at all
-- ARGV[4] the new secret's hint
-- Returns false for an unknown or deleted key, else {old secret hash, the previous secret hash
-- this replaces as the one in grace, or ''} so the caller can expire or drop their lookups.
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'deletedAt') == 1 then
  return false
end
local f = redis.call('HMGET', KEYS[1], 'hash', 'prevHash')
local old, displaced = f[1] or '', f[2] or ''
if tonumber(ARGV[3]) > 0 then
  redis.call('HSET', KEYS[1], 'prevHash', old, 'prevHashUntil', ARGV[3])
else
  redis.call('HDEL', KEYS[1], 'prevHash', 'prevHashUntil')
end
redis.call('HSET', KEYS[1], 'hash', ARGV[1], 'keyHint', ARGV[4], 'updatedAt', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'rev', 1)
return {old, displaced}
