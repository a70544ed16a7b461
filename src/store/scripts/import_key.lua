-- Write one imported key whole: its record and its usage buckets, in one step, or nothing when
-- a key with its id exists. Every key here carries the key's hash tag.
-- KEYS[1] key hash  KEYS[2] period index (usage key -> expiry ms)  KEYS[3..] usage buckets
-- ARGV[1] number N of record field/value pairs  ARGV[2 .. 1+2N] the pairs
-- then, for each bucket KEYS[3..] in order: its expiry ms ('' = none), its number C of
-- counter/value pairs, the pairs.
-- Returns {'exists', field, value, ...} (the stored record) when the key exists, nothing
-- written; else {'written', rev, name, tags, isActive, expiresAt, createdAt, lastUsedAt, and the
-- seven account fields} for its index entries.
if redis.call('EXISTS', KEYS[1]) == 1 then
  local stored = redis.call('HGETALL', KEYS[1])
  table.insert(stored, 1, 'exists')
  return stored
end
local pairs_end = 1 + 2 * tonumber(ARGV[1])
for i = 2, pairs_end, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local at = pairs_end + 1
for k = 3, #KEYS do
  local expires, count = ARGV[at], tonumber(ARGV[at + 1])
  at = at + 2
  for i = at, at + 2 * count - 1, 2 do redis.call('HSET', KEYS[k], ARGV[i], ARGV[i + 1]) end
  at = at + 2 * count
  if count > 0 and expires ~= '' then
    redis.call('PEXPIREAT', KEYS[k], expires)
    redis.call('ZADD', KEYS[2], expires, KEYS[k])
  end
end
local row = redis.call('HMGET', KEYS[1], 'rev', 'name', 'tags', 'isActive', 'expiresAt',
  'createdAt', 'lastUsedAt', 'claudeAccountId', 'claudeConsoleAccountId', 'geminiAccountId',
  'openaiAccountId', 'bedrockAccountId', 'azureOpenaiAccountId', 'droidAccountId')
return {'written', row}
