-- Extend a key's expiry in one step, so two extends at once both count. KEYS[1] key hash.
-- ARGV[1] now ms   ARGV[2] ms to add to the later of now and the current expiry, or ''
-- ARGV[3] the new expiry in ms (instead of ARGV[2]), or ''   ARGV[4] '1' to enable the key too
-- Returns false for an unknown or deleted key; 'not_activated' for an activation-mode key not yet used
-- (its clock has not started: nothing changed); else the index fields, as write_key.lua.
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
-- A deleted key is changed only by restoring it.
if redis.call('HEXISTS', KEYS[1], 'deletedAt') == 1 then return false end
local f = redis.call('HMGET', KEYS[1], 'expiresAt', 'expirationMode', 'activatedAt')
if f[2] == 'activation' and (not f[3] or f[3] == '') then return 'not_activated' end
local now = tonumber(ARGV[1])
local expires
if ARGV[2] ~= '' then
  local from = now
  if f[1] and f[1] ~= '' and tonumber(f[1]) > now then from = tonumber(f[1]) end
  expires = from + tonumber(ARGV[2])
else
  expires = tonumber(ARGV[3])
end
redis.call('HSET', KEYS[1], 'expiresAt', string.format('%.0f', expires), 'updatedAt', ARGV[1])
if ARGV[4] == '1' then redis.call('HSET', KEYS[1], 'isActive', '1') end
redis.call('HINCRBY', KEYS[1], 'rev', 1)
return redis.call('HMGET', KEYS[1], 'rev', 'name', 'tags', 'isActive', 'expiresAt', 'createdAt',
  'lastUsedAt', 'claudeAccountId', 'claudeConsoleAccountId', 'geminiAccountId', 'openaiAccountId',
  'bedrockAccountId', 'azureOpenaiAccountId', 'droidAccountId')
