-- Verify one key, atomically: every check first, then (when acquiring) a lease (always)
-- and the rate window's request count. Every key here carries the key's hash tag.
-- KEYS[1] key hash   KEYS[2] lease zset (lease id -> expiry ms)   KEYS[3] rate window hash
-- KEYS[4] today's usage hash   KEYS[5] this month's usage hash   KEYS[6] all-time usage hash
-- KEYS[7] this week's cost hash ({week = the week's reset on the local wall clock, ms; cost})
-- KEYS[8] waiters zset (member '<deadline ms>:<waiter id>' -> arrival number)
-- KEYS[9] waiters' arrival counter
-- ARGV[1] secret hash   ARGV[2] now ms   ARGV[3] service or ''
-- ARGV[4] '' without a model, else a JSON list of the names a restriction compares: the model as
-- sent (trimmed, lowercased), its normalised form and its pricing row's id and aliases; or '?'
-- when a model was named but its names are held back (the caller's copy of the record has no
-- model restriction)
-- ARGV[5] client ids the User-Agent matched, each wrapped in commas (',a,b,'), or ''; or '?' when
-- held back (the caller's copy of the record has no client restriction)
-- ARGV[6] '1' to acquire   ARGV[7] new lease id   ARGV[8] lease ttl ms
-- ARGV[9] the record revision the caller already holds, or ''
-- ARGV[10] the client address as 32 hex digits of its IPv6 form (IPv4 mapped), or ''
-- ARGV[11] ms to add to now for the wall clock in the configured zone (its offset at now)
-- ARGV[12] this request's waiter member when it may wait for a slot, else ''
-- ARGV[13] most waiters a key may have   ARGV[14] the wake channel
-- ARGV[15..] with ARGV[9]: the caller's copy of the record's `FIELDS` below at that revision,
-- in that order, '' for an absent field; none when the caller has no copy
-- Returns {'resend', 0} when the key has a restriction whose input was held back ('?'): the
-- caller sends the request again with it. Else {code, retry_after_ms} on refusal
-- ({'weekly_cost_limit', 0, reset day, reset hour}
-- for the weekly budget, whose wait the caller computes in the zone;
-- {'concurrency_limit', ms to the earliest lease expiry, 1} when the request waits in the queue),
-- or {'ok', figures, fields}, where figures is 'lease_expires_ms window_start_ms window_end_ms
-- window_requests window_tokens revision last_used_ms activated' (one string: the caller's
-- reply parser pays per value), fields is the whole record, or 0 when the caller's revision
-- is current (it has them already), and activated is 1 when this admission started an
-- activation-mode key's clock.
-- The record's fields the checks below read (the model and client lists, which can be long,
-- are read only for a key with that restriction). The list is written in by the store from
-- `VERIFY_FIELDS` (src/store/admission.rs), which names each one's position here.
local FIELDS = {--[[VERIFY_FIELDS]]}
-- Every change to a record bumps `rev`, except `lastUsedAt`, which every usage record moves.
-- So when the caller holds a copy of the stored revision, its fields are the stored ones and
-- only those two are read: reading the record's fields costs more than all the checks (an
-- absent field is a scan of the whole record), and each call into Redis costs too.
local live = redis.call('HMGET', KEYS[1], 'rev', 'lastUsedAt')
local f
if #ARGV > 14 and live[1] == ARGV[9] then
  f = {}
  -- '' stands for an absent field: every check below treats the two alike.
  for i = 1, #FIELDS do
    local value = ARGV[14 + i]
    if value ~= '' then f[i] = value end
  end
  f[5], f[6] = live[1], live[2]
else
  f = redis.call('HMGET', KEYS[1], unpack(FIELDS))
end
local stored_hash, active, expires_at, permissions, revision, last_used, deleted_at =
  f[1], f[2], f[3], f[4], f[5] or '0', f[6], f[7]
-- A deleted key, and a replaced secret past its grace, are unknown: checked here, not only by
-- dropping their lookups, so an instance whose cache still maps the secret refuses it too.
if deleted_at then return {'not_found', 0} end
local now = tonumber(ARGV[2])
if stored_hash ~= ARGV[1] then
  local previous = redis.call('HMGET', KEYS[1], 'prevHash', 'prevHashUntil')
  if not (previous[1] == ARGV[1] and tonumber(previous[2] or '0') > now) then
    return {'not_found', 0}
  end
end
if active ~= '1' then return {'disabled', 0} end
if expires_at and expires_at ~= '' and tonumber(expires_at) <= now then return {'expired', 0} end
-- permissions: 'all', or the allowed services joined by commas.
if ARGV[3] ~= '' and permissions ~= 'all'
  and not string.find(',' .. (permissions or '') .. ',', ',' .. ARGV[3] .. ',', 1, true) then
  return {'permission_denied', 0}
end
-- The caller may hold back the model's names and the matched clients ('?') when its copy of
-- the record has no such restriction; a record that has one now asks for them.
if (f[8] == '1' and ARGV[4] == '?') or (f[9] == '1' and ARGV[5] == '?') then
  return {'resend', 0}
end
if f[8] == '1' then
  -- Each entry is kept as typed (lowercased) and normalised (written beside it when the key is
  -- saved), so any spelling of a restricted model meets one of the request's names. An entry
  -- ending in '*' matches every name it starts.
  local rule = redis.call('HMGET', KEYS[1], 'restrictedModels', 'restrictedModelsNormalised',
    'modelRestrictionMode')
  local allow_mode = rule[3] == 'allow'
  if ARGV[4] == '' then
    -- In allow mode a request must name its model.
    if allow_mode then return {'model_not_allowed', 0} end
  else
    local names = cjson.decode(ARGV[4])
    local listed = false
    for _, entries in ipairs({rule[1], rule[2]}) do
      for _, entry in ipairs(cjson.decode(entries or '[]')) do
        local prefix = string.match(entry, '^(.*)%*$')
        for _, name in ipairs(names) do
          if (prefix and string.sub(name, 1, #prefix) == prefix) or name == entry then
            listed = true break
          end
        end
        if listed then break end
      end
      if listed then break end
    end
    if listed ~= allow_mode then return {'model_not_allowed', 0} end
  end
end
if f[9] == '1' then
  local allowed = false
  local clients = redis.call('HGET', KEYS[1], 'allowedClients')
  for _, client in ipairs(cjson.decode(clients or '[]')) do
    if string.find(ARGV[5], ',' .. client .. ',', 1, true) then allowed = true break end
  end
  if not allowed then return {'client_not_allowed', 0} end
end
-- Fail closed: a key with an allow-list refuses a verify without an address.
local ip_list = f[10]
if ip_list and ip_list ~= '' and ip_list ~= '[]' then
  local ip, allowed = ARGV[10], false
  if ip ~= '' then
    for _, form in ipairs(cjson.decode(ip_list)) do
      local net, bits = string.match(form, '^(%x+)/(%d+)$')
      bits = tonumber(bits or '129')
      local whole = math.floor(bits / 4)
      if bits <= 128 and string.sub(ip, 1, whole) == string.sub(net, 1, whole) then
        local rest = bits % 4
        if rest == 0 then allowed = true break end
        local scale = 2 ^ (4 - rest)
        local a = tonumber(string.sub(ip, whole + 1, whole + 1), 16)
        local b = tonumber(string.sub(net, whole + 1, whole + 1), 16)
        if math.floor(a / scale) == math.floor(b / scale) then allowed = true break end
      end
    end
  end
  if not allowed then return {'ip_not_allowed', 0} end
end
-- Budgets: each compares the cost recorded so far with its limit (integer nano-USD; exact
-- in Lua's doubles below 2^53). A request admitted under a budget may finish over it.
local cost_limit = tonumber(f[11] or '0')
if cost_limit > 0 then
  local cost = tonumber(redis.call('HGET', KEYS[4], 'cost') or '0')
  if cost >= cost_limit then return {'daily_cost_limit', 0} end
end
local weekly_limit = tonumber(f[12] or '0')
if weekly_limit > 0 then
  -- The week runs from the key's reset (day 1 = Monday, hour) on the local wall clock; its
  -- bucket counts only while it names this week's reset. Same rule as record_usage.lua.
  local day_ms = 86400000
  local local_now = tonumber(ARGV[2]) + tonumber(ARGV[11])
  local days = math.floor(local_now / day_ms)
  local weekday = (days + 3) % 7 + 1
  local reset_day, reset_hour = tonumber(f[21] or '1'), tonumber(f[22] or '0')
  local reset = (days - (weekday - reset_day) % 7) * day_ms + reset_hour * 3600000
  if reset > local_now then reset = reset - 7 * day_ms end
  local week = redis.call('HMGET', KEYS[7], 'week', 'cost')
  if week[1] == string.format('%.0f', reset) and tonumber(week[2] or '0') >= weekly_limit then
    return {'weekly_cost_limit', 0, reset_day, reset_hour}
  end
end
local monthly_limit = tonumber(f[13] or '0')
if monthly_limit > 0 then
  local cost = tonumber(redis.call('HGET', KEYS[5], 'cost') or '0')
  if cost >= monthly_limit then return {'monthly_cost_limit', 0} end
end
local total_limit = tonumber(f[14] or '0')
if total_limit > 0 then
  local cost = tonumber(redis.call('HGET', KEYS[6], 'cost') or '0')
  if cost >= total_limit then return {'total_cost_limit', 0} end
end

local acquire = ARGV[6] == '1'
local window_ms = tonumber(f[15] or '0') * 60000
local w_start, w_end, w_requests, w_tokens = 0, 0, 0, 0
if window_ms > 0 then
  local w = redis.call('HMGET', KEYS[3], 'start', 'end', 'requests', 'tokens', 'cost')
  if w[2] and tonumber(w[2]) > now then
    w_start, w_end = tonumber(w[1]), tonumber(w[2])
    w_requests, w_tokens = tonumber(w[3] or '0'), tonumber(w[4] or '0')
    local request_limit, token_limit = tonumber(f[18] or '0'), tonumber(f[19] or '0')
    if request_limit > 0 and w_requests >= request_limit then return {'rate_limit', w_end - now} end
    if token_limit > 0 and w_tokens >= token_limit then return {'token_limit', w_end - now} end
    local window_cost_limit = tonumber(f[20] or '0')
    if window_cost_limit > 0 and tonumber(w[5] or '0') >= window_cost_limit then
      return {'window_cost_limit', w_end - now}
    end
  end
end

local concurrency_limit = tonumber(f[16] or '0')
local me, next_waiter = ARGV[12], nil
if concurrency_limit > 0 then
  local held
  if acquire then
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
    held = redis.call('ZCARD', KEYS[2])
    -- Waiters whose deadline passed (their request has given up) leave the head of the queue.
    local head = redis.call('ZRANGE', KEYS[8], 0, 0)[1]
    while head and tonumber(string.match(head, '^(%d+):') or '0') < now do
      redis.call('ZREM', KEYS[8], head)
      head = redis.call('ZRANGE', KEYS[8], 0, 0)[1]
    end
    -- First come first served: while requests wait, only the head may take a free slot.
    if held >= concurrency_limit or (head and head ~= me) then
      if me == '' then return {'concurrency_limit', 1000} end
      local earliest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
      local wait = 1000
      if earliest[2] then wait = math.max(1, tonumber(earliest[2]) - now) end
      if not redis.call('ZSCORE', KEYS[8], me) then
        if redis.call('ZCARD', KEYS[8]) >= tonumber(ARGV[13]) then
          return {'concurrency_limit', 1000}
        end
        redis.call('ZADD', KEYS[8], redis.call('INCR', KEYS[9]), me)
        -- Waits last at most a minute: the queue and its counter go when idle.
        redis.call('PEXPIRE', KEYS[8], 120000)
        redis.call('PEXPIRE', KEYS[9], 120000)
      end
      -- A free slot the head has not taken yet (it may be this request's own first try):
      -- tell the head.
      if held < concurrency_limit and head then redis.call('PUBLISH', ARGV[14], head) end
      return {'concurrency_limit', wait, 1}
    end
    if head and head == me then
      redis.call('ZREM', KEYS[8], me)
      -- More free slots: the next waiter may go too.
      if held + 1 < concurrency_limit then next_waiter = redis.call('ZRANGE', KEYS[8], 0, 0)[1] end
    end
  else
    held = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
    if held >= concurrency_limit then return {'concurrency_limit', 1000} end
  end
end
if next_waiter then redis.call('PUBLISH', ARGV[14], next_waiter) end

local lease_expires = 0
if acquire then
  -- Every admission takes a lease, limited or not, so the live concurrency counts every key.
  if concurrency_limit == 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end
  lease_expires = now + tonumber(ARGV[8])
  redis.call('ZADD', KEYS[2], lease_expires, ARGV[7])
  -- The set lives as long as its latest lease (a renewal may have moved one past this one), so
  -- a relay that crashed leaves nothing behind. GT leaves a later expiry; a new set has none.
  local expiry = string.format('%.0f', lease_expires + 1000)
  if redis.call('PEXPIREAT', KEYS[2], expiry, 'GT') == 0 and redis.call('PTTL', KEYS[2]) == -1 then
    redis.call('PEXPIREAT', KEYS[2], expiry)
  end
  if window_ms > 0 then
    if w_end > 0 then
      w_requests = redis.call('HINCRBY', KEYS[3], 'requests', 1)
    else
      w_start, w_end, w_requests, w_tokens = now, now + window_ms, 1, 0
      redis.call('DEL', KEYS[3])
      redis.call('HSET', KEYS[3], 'start', w_start, 'end', w_end, 'requests', 1, 'tokens', 0, 'cost', 0)
      redis.call('PEXPIREAT', KEYS[3], w_end)
    end
  end
end
-- Activation mode: the first admission starts the key's clock, here, in the same step as the
-- checks, so of many parallel first admissions exactly one sets it.
local activated = 0
if acquire and f[17] == 'activation' and (not f[23] or f[23] == '') then
  local count = tonumber(f[24] or '0')
  if count > 0 then
    local unit_ms = 86400000
    if f[25] == 'hours' then unit_ms = 3600000 end
    redis.call('HSET', KEYS[1], 'activatedAt', ARGV[2],
      'expiresAt', string.format('%.0f', now + count * unit_ms))
    revision = tostring(redis.call('HINCRBY', KEYS[1], 'rev', 1))
    activated = 1
  end
end
local fields = 0
if revision ~= ARGV[9] then fields = redis.call('HGETALL', KEYS[1]) end
local figures = string.format('%.0f %.0f %.0f %.0f %.0f %s %s %d', lease_expires, w_start, w_end,
  w_requests, w_tokens, revision, last_used or '0', activated)
return {'ok', figures, fields}
