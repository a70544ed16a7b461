-- The index side of one usage record: last-used and today's-cost sort orders, and the upstream
-- account's daily usage per model. Every key here carries the index hash tag.
-- KEYS[1] created index  KEYS[2] last-used index  KEYS[3] today's cost index
-- KEYS[4] the account's usage hash for today  KEYS[5] known accounts
-- ARGV[1] key id  ARGV[2] now ms  ARGV[3] model  ARGV[4] account id or ''  ARGV[5] day expiry ms
-- ARGV[6..] counter name, amount pairs as in record_usage.lua
-- Does nothing for a key that is not indexed (deleted meanwhile), so no ghost entries appear.
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[2], 'XX', ARGV[2], ARGV[1])
local account = ARGV[4]
for i = 6, #ARGV, 2 do
  local counter, amount = ARGV[i], ARGV[i + 1]
  if amount ~= '0' then
    if counter == 'cost' then redis.call('ZINCRBY', KEYS[3], amount, ARGV[1]) end
    if account ~= '' then redis.call('HINCRBY', KEYS[4], counter .. '|' .. ARGV[3], amount) end
  end
end
-- Dated keys get their expiry once, when the day's first record creates them.
if redis.call('PTTL', KEYS[3]) == -1 then redis.call('PEXPIREAT', KEYS[3], ARGV[5]) end
if account ~= '' then
  if redis.call('PTTL', KEYS[4]) == -1 then redis.call('PEXPIREAT', KEYS[4], ARGV[5]) end
  redis.call('ZADD', KEYS[5], ARGV[2], account)
end
return 1
