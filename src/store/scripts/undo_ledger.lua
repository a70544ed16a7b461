-- Take back the index side of a usage record whose key side refused it (a full counter, or the
-- key gone), so a record is applied whole or not at all. Every key here carries the index
-- hash tag.
-- KEYS as in record_ledger.lua (KEYS[7] the listing change stream: the values after the undo).
-- ARGV[1] key id  ARGV[2] now ms the record was applied with  ARGV[3] model  ARGV[4] account id or ''
-- ARGV[5] request id or ''  ARGV[6] '1' when this caller applied the record itself (a repeat
-- did not, and knows no previous scores)  ARGV[7] previous last-used score or ''
-- ARGV[8] previous score of the account or ''  ARGV[9..] counter name, amount pairs as in
-- record_usage.lua
-- With a request id the counters are taken back only while its entry is there, and the entry
-- goes with them, so concurrent repeats take back once. Returns 1 if counters were taken back.
local id, account, request_id = ARGV[1], ARGV[4], ARGV[5]
local take_back = true
if request_id ~= '' then
  take_back = redis.call('ZREM', KEYS[6], request_id) == 1
end
if take_back then
  for i = 9, #ARGV, 2 do
    local counter, amount = ARGV[i], ARGV[i + 1]
    if amount ~= '0' then
      -- Entries exist only with positive amounts, so one that falls to zero was made by this
      -- record: remove it rather than leave a zero behind.
      if counter == 'cost' then
        if tonumber(redis.call('ZINCRBY', KEYS[3], '-' .. amount, id)) <= 0 then
          redis.call('ZREM', KEYS[3], id)
        end
      end
      if account ~= '' then
        local field = counter .. '|' .. ARGV[3]
        if redis.call('HINCRBY', KEYS[4], field, '-' .. amount) <= 0 then
          redis.call('HDEL', KEYS[4], field)
        end
      end
    end
  end
end
-- Timestamps go back only if no later record moved them meanwhile.
local applied_at = tonumber(ARGV[2])
local function still_ours(set, member)
  return tonumber(redis.call('ZSCORE', set, member) or '-1') == applied_at
end
if ARGV[6] == '1' then
  if still_ours(KEYS[2], id) then
    -- No previous score: this record made the entry (the key's first use).
    if ARGV[7] == '' then
      redis.call('ZREM', KEYS[2], id)
    else
      redis.call('ZADD', KEYS[2], 'XX', ARGV[7], id)
    end
  end
  if account ~= '' and still_ours(KEYS[5], account) then
    if ARGV[8] == '' then
      redis.call('ZREM', KEYS[5], account)
    else
      redis.call('ZADD', KEYS[5], ARGV[8], account)
    end
  end
end
redis.call('XADD', KEYS[7], 'MAXLEN', '~', 200000, '0-*', 'o', 'c', 'i', id, 'l',
  redis.call('ZSCORE', KEYS[2], id) or '0', 'd', KEYS[3], 'v', redis.call('ZSCORE', KEYS[3], id) or '0')
return take_back and 1 or 0
