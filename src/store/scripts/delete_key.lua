-- Delete a key and everything stored under its hash tag. KEYS[1] key hash, KEYS[2] lease zset,
-- KEYS[3] rate window, KEYS[4] period index, KEYS[5] usage total, KEYS[6] this week's cost,
-- KEYS[7] waiters zset, KEYS[8] waiters' arrival counter, KEYS[9] request log.
-- ARGV[1] the record's field holding the id of the audit entry that created the key.
-- The dated usage keys are named in the period index; they share the hash tag, so they live
-- on this node. Returns {secret hash, previous secret hash or '', creation audit id or ''} (to
-- drop the lookups, and keep the creation in the key's history), or false for an unknown key.
local f = redis.call('HMGET', KEYS[1], 'hash', 'prevHash', ARGV[1])
if not f[1] then return false end
for _, usage_key in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  redis.call('DEL', usage_key)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9])
return {f[1], f[2] or '', f[3] or ''}
