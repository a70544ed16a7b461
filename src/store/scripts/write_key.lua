-- Create or update a key's hash: only the fields sent change, in one step, so a concurrent
-- update or disable is never reverted. KEYS[1] key hash.
-- ARGV[1] 'create' or 'update'  ARGV[2] now ms  ARGV[3] number N of field/value pairs to set
-- ARGV[4 .. 3+2N] the pairs  ARGV[4+2N ..] fields to delete
-- Returns false when the key exists on create or is missing (or deleted) on update, else the
-- index fields.
local exists = redis.call('EXISTS', KEYS[1]) == 1
if (ARGV[1] == 'create') == exists then return false end
-- A deleted key is changed only by restoring it.
if exists and redis.call('HEXISTS', KEYS[1], 'deletedAt') == 1 then return false end
local pairs_end = 3 + 2 * tonumber(ARGV[3])
if pairs_end >= 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 4, pairs_end)) end
-- A new key has nothing to delete.
if exists and pairs_end < #ARGV then redis.call('HDEL', KEYS[1], unpack(ARGV, pairs_end + 1)) end
-- A new key gets `updatedAt` too: the previous release's readers require it, and instances
-- of both releases share one Redis during a rolling upgrade.
if ARGV[1] == 'create' then redis.call('HSET', KEYS[1], 'createdAt', ARGV[2]) end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'rev', 1)
return redis.call('HMGET', KEYS[1], 'rev', 'name', 'tags', 'isActive', 'expiresAt', 'createdAt',
  'lastUsedAt', 'claudeAccountId', 'claudeConsoleAccountId', 'geminiAccountId', 'openaiAccountId',
  'bedrockAccountId', 'azureOpenaiAccountId', 'droidAccountId')
