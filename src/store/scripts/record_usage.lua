-- Add one response's usage to a key, atomically: all of it, or (refused) none of it.
-- Every key here carries the key's hash tag.
-- KEYS[1] key hash  KEYS[2] total  KEYS[3] today  KEYS[4] this month  KEYS[5] today per model
-- KEYS[6] rate window hash  KEYS[7] lease zset  KEYS[8] period index (usage key -> expiry ms)
-- KEYS[9] this week's cost hash ({week = the week's reset on the local wall clock, ms; cost})
-- KEYS[10] waiters zset (the head is told of a released lease on the wake channel)
-- KEYS[11] request log (capped stream)  KEYS[12] today's per-hour counters (hash)
-- KEYS[13] only with a request id: its marker (a hash of the first answer's figures)
-- ARGV[1] now ms  ARGV[2] model  ARGV[3] lease id or ''  ARGV[4] day expiry ms  ARGV[5] month expiry ms
-- ARGV[6] all tokens of the response (for the rate window)  ARGV[7] largest value a counter may reach
-- ARGV[8] marker expiry ms  ARGV[9] this record's cost (nano-USD)  ARGV[10] priced as
-- ARGV[11] '1' when priced with the fallback price
-- ARGV[12] ms to add to now for the wall clock in the configured zone (its offset at now)
-- ARGV[13] the wake channel
-- ARGV[14] the model as reported  ARGV[15] account id or ''  ARGV[16] request log length (0: none)
-- ARGV[17] expiry of the hour buckets (ms)
-- ARGV[18..] counter name, amount pairs (requests first, tokens of each kind, cost)
-- Returns {'unknown'} for an unknown key (nothing written);
-- {'repeat', cost, daily cost, priced as, fallback} when the marker exists: the first answer,
--   nothing applied (the lease is released: a retry may carry it);
-- {'full', counter} when a counter would pass ARGV[7]: nothing applied but the lease release
--   (the response is over, so its slot is free either way);
-- else {'ok', today's cost in nano-USD}.
-- Frees a lease and tells the first waiter for a slot, if any.
local function release(lease)
  if redis.call('ZREM', KEYS[7], lease) == 1 then
    local head = redis.call('ZRANGE', KEYS[10], 0, 0)[1]
    if head then redis.call('PUBLISH', ARGV[13], head) end
  end
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown'} end
local marker = KEYS[13]
if marker and redis.call('EXISTS', marker) == 1 then
  if ARGV[3] ~= '' then release(ARGV[3]) end
  local first = redis.call('HMGET', marker, 'cost', 'dailyCost', 'pricedAs', 'priceFallback')
  return {'repeat', first[1] or '0', first[2] or '0', first[3] or '', first[4] or '0'}
end
local model = ARGV[2]
local all_tokens = ARGV[6]
local max_counter = tonumber(ARGV[7])

-- The counters this record moves (amounts of 0 move nothing).
-- Amounts stay text for the writes (Lua prints numbers above 10^14 rounded); `room` holds,
-- per counter, the largest value it may have now for this record to fit.
local counters, amounts, by_model, room = {}, {}, {}, {}
for i = 18, #ARGV, 2 do
  if ARGV[i + 1] ~= '0' then
    local n = #counters + 1
    counters[n], amounts[n] = ARGV[i], ARGV[i + 1]
    by_model[n] = ARGV[i] .. '|' .. model
    room[n] = max_counter - tonumber(ARGV[i + 1])
  end
end
-- Every one is checked before the first write. Values up to max_counter are exact in Lua's
-- doubles, so `current > max - amount` is an exact test. Returns the first that would pass it.
local function first_full(hash, fields, label)
  if #fields == 0 then return nil end
  local current = redis.call('HMGET', hash, unpack(fields))
  for j = 1, #fields do
    if tonumber(current[j] or '0') > room[j] then return label .. fields[j] end
  end
  return nil
end
local full = first_full(KEYS[2], counters, 'total.') or first_full(KEYS[3], counters, 'daily.')
  or first_full(KEYS[4], counters, 'monthly.') or first_full(KEYS[5], by_model, 'dailyByModel.')
local window_live = false
if not full and all_tokens ~= '0' then
  local window = redis.call('HMGET', KEYS[6], 'end', 'tokens')
  window_live = window[1] and tonumber(window[1]) > tonumber(ARGV[1])
  if window_live and tonumber(window[2] or '0') > max_counter - tonumber(all_tokens) then
    full = 'window.tokens'
  end
end
if full then
  if ARGV[3] ~= '' then release(ARGV[3]) end
  return {'full', full}
end

local day_requests, month_requests = 0, 0
for j, counter in ipairs(counters) do
  local amount = amounts[j]
  redis.call('HINCRBY', KEYS[2], counter, amount)
  local day = redis.call('HINCRBY', KEYS[3], counter, amount)
  local month = redis.call('HINCRBY', KEYS[4], counter, amount)
  redis.call('HINCRBY', KEYS[5], by_model[j], amount)
  if counter == 'requests' then day_requests, month_requests = day, month end
end
-- The first record of a day (or month) creates its buckets: give them their expiry and
-- remember them, so deleting the key leaves none behind.
if day_requests == 1 then
  redis.call('PEXPIREAT', KEYS[3], ARGV[4])
  redis.call('PEXPIREAT', KEYS[5], ARGV[4])
  redis.call('ZADD', KEYS[8], ARGV[4], KEYS[3], ARGV[4], KEYS[5])
  redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', ARGV[1])
end
if month_requests == 1 then
  redis.call('PEXPIREAT', KEYS[4], ARGV[5])
  redis.call('ZADD', KEYS[8], ARGV[5], KEYS[4])
end
if window_live then redis.call('HINCRBY', KEYS[6], 'tokens', all_tokens) end
local cost = ARGV[9]
if cost ~= '0' then
  -- The running window's cost (rateLimitCost), when a window runs.
  local window_end = redis.call('HGET', KEYS[6], 'end')
  if window_end and tonumber(window_end) > tonumber(ARGV[1]) then
    redis.call('HINCRBY', KEYS[6], 'cost', cost)
  end
  -- This week's cost, from the key's weekly reset (same rule as verify.lua). A new week
  -- starts the bucket again; it lives a day past the week's end and is listed in the period
  -- index so deleting the key removes it.
  local reset_at = redis.call('HMGET', KEYS[1], 'weeklyResetDay', 'weeklyResetHour')
  local day_ms = 86400000
  local local_now = tonumber(ARGV[1]) + tonumber(ARGV[12])
  local days = math.floor(local_now / day_ms)
  local weekday = (days + 3) % 7 + 1
  local reset_day, reset_hour = tonumber(reset_at[1] or '1'), tonumber(reset_at[2] or '0')
  local reset = (days - (weekday - reset_day) % 7) * day_ms + reset_hour * 3600000
  if reset > local_now then reset = reset - 7 * day_ms end
  local week = string.format('%.0f', reset)
  if redis.call('HGET', KEYS[9], 'week') == week then
    redis.call('HINCRBY', KEYS[9], 'cost', cost)
  else
    redis.call('HSET', KEYS[9], 'week', week, 'cost', cost)
    local expires = tonumber(ARGV[1]) + (reset + 8 * day_ms - local_now)
    redis.call('PEXPIREAT', KEYS[9], string.format('%.0f', expires))
    redis.call('ZADD', KEYS[8], string.format('%.0f', expires), KEYS[9])
  end
end
redis.call('HSET', KEYS[1], 'lastUsedAt', ARGV[1])
if ARGV[3] ~= '' then release(ARGV[3]) end
local daily_cost = redis.call('HGET', KEYS[3], 'cost') or '0'
if marker then
  redis.call('HSET', marker, 'cost', ARGV[9], 'dailyCost', daily_cost, 'pricedAs', ARGV[10],
    'priceFallback', ARGV[11])
  redis.call('PEXPIREAT', marker, ARGV[8])
  -- Listed with the dated buckets, so deleting the key removes its markers too; expired
  -- entries go as the list is touched.
  redis.call('ZADD', KEYS[8], ARGV[8], marker)
  redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', ARGV[1])
end
-- Request log and today's hourly counters, in the same step as the counters above, so a
-- record is logged exactly when it is counted (a repeat or a refusal returned earlier).
-- The log is a stream capped at ARGV[16] entries: its ids give exact "before" cursors. An
-- entry's id carries its time (ARGV[1]) when that is after the newest entry's; else (another
-- instance's clock behind) Redis picks the next id and the time goes in field `t`.
-- Field names are one letter and pricedAs is '' when it equals the model: entries stay small.
local log_cap = ARGV[16]
if log_cap ~= '0' then
  local priced_as = ARGV[10] == ARGV[14] and '' or ARGV[10]
  local amount = {}
  for i = 18, #ARGV, 2 do amount[ARGV[i]] = ARGV[i + 1] end
  -- Token counts are at most 10^9 each, so their sum prints exactly.
  local cache_writes = tostring(tonumber(amount.cacheCreate5mTokens) + tonumber(amount.cacheCreate1hTokens))
  local entry = {'m', ARGV[14], 'p', priced_as, 'a', ARGV[15], 'i', amount.inputTokens,
    'o', amount.outputTokens, 'w', cache_writes, 'r', amount.cacheReadTokens, 'c', ARGV[9]}
  local added = redis.pcall('XADD', KEYS[11], 'MAXLEN', log_cap, ARGV[1] .. '-*', unpack(entry))
  if type(added) == 'table' and added.err then
    redis.call('XADD', KEYS[11], 'MAXLEN', log_cap, '*', 't', ARGV[1], unpack(entry))
  end
end
local hour = math.floor((tonumber(ARGV[1]) + tonumber(ARGV[12])) / 3600000) % 24
if redis.call('HINCRBY', KEYS[12], hour .. ':r', 1) == 1 then
  redis.call('PEXPIREAT', KEYS[12], ARGV[17])
  redis.call('ZADD', KEYS[8], ARGV[17], KEYS[12])
end
if all_tokens ~= '0' then redis.call('HINCRBY', KEYS[12], hour .. ':t', all_tokens) end
if cost ~= '0' then redis.call('HINCRBY', KEYS[12], hour .. ':c', cost) end
return {'ok', daily_cost}
