-- Disable a key if it is active and expired; the check and the write are one step, so two
-- sweeps running at once count each key once. KEYS[1] key hash. ARGV[1] now ms.
-- Returns false when nothing changed, else the index fields as write_key.lua does.
local f = redis.call('HMGET', KEYS[1], 'isActive', 'expiresAt')
if f[1] ~= '1' or not f[2] or f[2] == '' or tonumber(f[2]) > tonumber(ARGV[1]) then return false end
redis.call('HSET', KEYS[1], 'isActive', '0', 'updatedAt', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'rev', 1)
return redis.call('HMGET', KEYS[1], 'rev', 'name', 'tags', 'isActive', 'expiresAt', 'createdAt',
  'lastUsedAt', 'claudeAccountId', 'claudeConsoleAccountId', 'geminiAccountId', 'openaiAccountId',
  'bedrockAccountId', 'azureOpenaiAccountId', 'droidAccountId')
