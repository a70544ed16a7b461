-- Delete a key and everything stored under its hash tag. KEYS[1] key hash, KEYS[2] lease zset,
-- KEYS[3] rate window, KEYS[4] period index, KEYS[5] usage total.
-- The dated usage keys are named in the period index; they share the hash tag, so they live
-- on this node. Returns the secret hash (to drop its lookup), or false for an unknown key.
local secret_hash = redis.call('HGET', KEYS[1], 'hash')
if not secret_hash then return false end
for _, usage_key in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  redis.call('DEL', usage_key)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return secret_hash
