-- Bring a deleted key back. KEYS[1] key hash.   ARGV[1] now ms
-- Returns false for an unknown or not deleted key, else {index fields (as write_key.lua
-- returns them), secret hash, previous secret hash or '', its validity end ms or ''}.
if redis.call('HEXISTS', KEYS[1], 'deletedAt') == 0 then return false end
redis.call('HDEL', KEYS[1], 'deletedAt', 'deletedBy')
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'rev', 1)
local row = redis.call('HMGET', KEYS[1], 'rev', 'name', 'tags', 'isActive', 'expiresAt',
  'createdAt', 'lastUsedAt', 'claudeAccountId', 'claudeConsoleAccountId', 'geminiAccountId',
  'openaiAccountId', 'bedrockAccountId', 'azureOpenaiAccountId', 'droidAccountId')
local f = redis.call('HMGET', KEYS[1], 'hash', 'prevHash', 'prevHashUntil')
return {row, f[1] or '', f[2] or '', f[3] or ''}
