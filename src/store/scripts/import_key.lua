-- Write an imported key's record, unless a key with its id exists. Its usage buckets are
-- written before, by import_usage.lua; this record makes the key exist, so it is written last.
-- KEYS[1] key hash  ARGV the record's field/value pairs
-- Returns {'exists', field, value, ...} (the stored record) when the key exists, nothing
-- written; else {'written', {rev, name, tags, isActive, expiresAt, createdAt, lastUsedAt, and
-- the seven account fields}} for its index entries.
if redis.call('EXISTS', KEYS[1]) == 1 then
  local stored = redis.call('HGETALL', KEYS[1])
  table.insert(stored, 1, 'exists')
  return stored
end
redis.call('HSET', KEYS[1], unpack(ARGV))
local row = redis.call('HMGET', KEYS[1], 'rev', 'name', 'tags', 'isActive', 'expiresAt',
  'createdAt', 'lastUsedAt', 'claudeAccountId', 'claudeConsoleAccountId', 'geminiAccountId',
  'openaiAccountId', 'bedrockAccountId', 'azureOpenaiAccountId', 'droidAccountId')
return {'written', row}
