-- The index side of one usage record: last-used and today's-cost sort orders, and the upstream
-- account's daily usage per model. All of it, or (refused) none of it. Every key here carries
-- the index hash tag. It runs before the key's side; undo_ledger.lua takes it back when the
-- key's side then refuses the record.
-- KEYS[1] index rows (see index_upsert.lua)  KEYS[2] last-used index  KEYS[3] today's cost index
-- KEYS[4] the account's usage hash for today  KEYS[5] known accounts
-- KEYS[6] the key's applied request ids (sorted set: request id -> expiry ms)
-- KEYS[7] the listing change stream (last use and today's cost after this record)
-- KEYS[8] the previous releases' created zset (a key indexed by the release before the
-- previous one has no row yet, only an entry there)
-- ARGV[1] key id  ARGV[2] now ms  ARGV[3] model  ARGV[4] account id or ''  ARGV[5] day expiry ms
-- ARGV[6] request id or ''  ARGV[7] request id expiry ms  ARGV[8] largest value a counter may reach
-- ARGV[9..] counter name, amount pairs as in record_usage.lua; the stream's length cap is
-- `stream_cap` below (ARGV pairs leave no fixed place for it)
-- Returns {'unindexed'} for a key that is not indexed (deleted meanwhile: nothing written, so
-- no ghost entries appear); {'repeat'} when this request id was applied here already (nothing
-- written); {'full', counter} when a counter would pass ARGV[8] (nothing written); else
-- {'ok', previous last-used score, previous score of the account or ''} (what an undo restores).
-- Indexed: a row with a name (a soft-deleted key's row has none: 'revision \t\t...').
local row = redis.call('HGET', KEYS[1], ARGV[1])
local indexed
if row then
  indexed = not string.find(row, '^[^\t]*\t\t')
else
  indexed = redis.call('ZSCORE', KEYS[8], ARGV[1])
end
if not indexed then return {'unindexed'} end
local now = tonumber(ARGV[2])
local request_id = ARGV[6]
if request_id ~= '' then
  local expires = redis.call('ZSCORE', KEYS[6], request_id)
  if expires and tonumber(expires) > now then return {'repeat'} end
end
local account = ARGV[4]
local max_counter = tonumber(ARGV[8])
local stream_cap = 200000

-- Every counter is checked before the first write (see record_usage.lua).
-- Amounts stay text for the writes (Lua prints numbers above 10^14 rounded); `room` holds,
-- per counter, the largest value it may have now for this record to fit.
local fields, amounts, room, cost = {}, {}, {}, nil
for i = 9, #ARGV, 2 do
  if ARGV[i + 1] ~= '0' then
    local n = #fields + 1
    fields[n], amounts[n] = ARGV[i] .. '|' .. ARGV[3], ARGV[i + 1]
    room[n] = max_counter - tonumber(ARGV[i + 1])
    if ARGV[i] == 'cost' then cost = n end
  end
end
if cost then
  local current = redis.call('ZSCORE', KEYS[3], ARGV[1])
  if tonumber(current or '0') > room[cost] then return {'full', 'dailyCostIndex.cost'} end
end
if account ~= '' and #fields > 0 then
  local current = redis.call('HMGET', KEYS[4], unpack(fields))
  for j = 1, #fields do
    if tonumber(current[j] or '0') > room[j] then
      return {'full', 'accountDaily.' .. fields[j]}
    end
  end
end

local previous_last_used = redis.call('ZSCORE', KEYS[2], ARGV[1]) or ''
local previous_account = ''
-- A key's first use makes its entry (a key never used has none; it is indexed: checked above).
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if cost then redis.call('ZINCRBY', KEYS[3], amounts[cost], ARGV[1]) end
if account ~= '' then
  for j, field in ipairs(fields) do redis.call('HINCRBY', KEYS[4], field, amounts[j]) end
end
-- Dated keys get their expiry once, when the day's first record creates them.
if redis.call('PTTL', KEYS[3]) == -1 then redis.call('PEXPIREAT', KEYS[3], ARGV[5]) end
if account ~= '' then
  if redis.call('PTTL', KEYS[4]) == -1 then redis.call('PEXPIREAT', KEYS[4], ARGV[5]) end
  previous_account = redis.call('ZSCORE', KEYS[5], account) or ''
  redis.call('ZADD', KEYS[5], ARGV[2], account)
end
if request_id ~= '' then
  redis.call('ZADD', KEYS[6], ARGV[7], request_id)
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)
  -- The set lives as long as its newest entry.
  local newest = redis.call('ZRANGE', KEYS[6], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[6], newest[2])
end
local cost_now = redis.call('ZSCORE', KEYS[3], ARGV[1]) or '0'
redis.call('XADD', KEYS[7], 'MAXLEN', '~', stream_cap, '0-*', 'o', 'c', 'i', ARGV[1], 'l', ARGV[2],
  'd', KEYS[3], 'v', cost_now)
return {'ok', previous_last_used, previous_account}
