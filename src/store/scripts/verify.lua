-- Verify one key, atomically: every check first, then (when acquiring) the concurrency lease
-- and the rate window's request count. Every key here carries the key's hash tag.
-- KEYS[1] key hash   KEYS[2] lease zset (lease id -> expiry ms)   KEYS[3] rate window hash
-- KEYS[4] today's usage hash
-- ARGV[1] secret hash   ARGV[2] now ms   ARGV[3] service or ''
-- ARGV[4] '' without a model, else a JSON list of the names a restriction compares: the model as
-- sent (trimmed, lowercased), its normalised form and its pricing row's id and aliases
-- ARGV[5] client ids the User-Agent matched, each wrapped in commas (',a,b,'), or ''
-- ARGV[6] '1' to acquire   ARGV[7] new lease id   ARGV[8] lease ttl ms
-- ARGV[9] the record revision the caller already holds, or ''
-- Returns {code, retry_after_ms} on refusal, or {'ok', 0, lease_expires_ms, window_start_ms,
-- window_end_ms, window_requests, window_tokens, fields, revision, last_used_ms}, where fields
-- is the whole record, or 0 when the caller's revision is current (it has them already).
local f = redis.call('HMGET', KEYS[1], 'hash', 'isActive', 'expiresAt', 'permissions',
  'enableModelRestriction', 'restrictedModels', 'enableClientRestriction', 'allowedClients',
  'concurrencyLimit', 'rateLimitWindow', 'rateLimitRequests', 'tokenLimit', 'dailyCostLimit',
  'rev', 'lastUsedAt', 'restrictedModelsNormalised', 'prevHash', 'prevHashUntil', 'deletedAt')
-- A deleted key, and a replaced secret past its grace, are unknown: checked here, not only by
-- dropping their lookups, so an instance whose cache still maps the secret refuses it too.
if f[19] then return {'not_found', 0} end
if f[1] ~= ARGV[1] and not (f[17] == ARGV[1] and tonumber(f[18] or '0') > tonumber(ARGV[2])) then
  return {'not_found', 0}
end
if f[2] ~= '1' then return {'disabled', 0} end
local now = tonumber(ARGV[2])
if f[3] and f[3] ~= '' and tonumber(f[3]) <= now then return {'expired', 0} end
if ARGV[3] ~= '' and f[4] ~= 'all' and f[4] ~= ARGV[3] then return {'permission_denied', 0} end
if f[5] == '1' and ARGV[4] ~= '' then
  -- Each entry is kept as typed (lowercased) and normalised (written beside it when the key is
  -- saved), so any spelling of a restricted model meets one of the request's names.
  local names = {}
  for _, name in ipairs(cjson.decode(ARGV[4])) do names[name] = true end
  for _, entries in ipairs({f[6], f[16]}) do
    for _, entry in ipairs(cjson.decode(entries or '[]')) do
      if names[entry] then return {'model_not_allowed', 0} end
    end
  end
end
if f[7] == '1' then
  local allowed = false
  for _, client in ipairs(cjson.decode(f[8] or '[]')) do
    if string.find(ARGV[5], ',' .. client .. ',', 1, true) then allowed = true break end
  end
  if not allowed then return {'client_not_allowed', 0} end
end
local cost_limit = tonumber(f[13] or '0')
if cost_limit > 0 then
  local cost = tonumber(redis.call('HGET', KEYS[4], 'cost') or '0')
  if cost >= cost_limit then return {'daily_cost_limit', 0} end
end

local acquire = ARGV[6] == '1'
local window_ms = tonumber(f[10] or '0') * 60000
local w_start, w_end, w_requests, w_tokens = 0, 0, 0, 0
if window_ms > 0 then
  local w = redis.call('HMGET', KEYS[3], 'start', 'end', 'requests', 'tokens')
  if w[2] and tonumber(w[2]) > now then
    w_start, w_end = tonumber(w[1]), tonumber(w[2])
    w_requests, w_tokens = tonumber(w[3] or '0'), tonumber(w[4] or '0')
    local request_limit, token_limit = tonumber(f[11] or '0'), tonumber(f[12] or '0')
    if request_limit > 0 and w_requests >= request_limit then return {'rate_limit', w_end - now} end
    if token_limit > 0 and w_tokens >= token_limit then return {'token_limit', w_end - now} end
  end
end

local concurrency_limit = tonumber(f[9] or '0')
if concurrency_limit > 0 then
  local held
  if acquire then
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
    held = redis.call('ZCARD', KEYS[2])
  else
    held = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
  end
  if held >= concurrency_limit then return {'concurrency_limit', 1000} end
end

local lease_expires = 0
if acquire then
  if concurrency_limit > 0 then
    lease_expires = now + tonumber(ARGV[8])
    redis.call('ZADD', KEYS[2], lease_expires, ARGV[7])
    -- The set lives as long as its newest lease, so a relay that crashed leaves nothing behind.
    local newest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
    redis.call('PEXPIREAT', KEYS[2], tonumber(newest[2]) + 1000)
  end
  if window_ms > 0 then
    if w_end > 0 then
      w_requests = redis.call('HINCRBY', KEYS[3], 'requests', 1)
    else
      w_start, w_end, w_requests, w_tokens = now, now + window_ms, 1, 0
      redis.call('DEL', KEYS[3])
      redis.call('HSET', KEYS[3], 'start', w_start, 'end', w_end, 'requests', 1, 'tokens', 0)
      redis.call('PEXPIREAT', KEYS[3], w_end)
    end
  end
end
local fields = 0
if f[14] ~= ARGV[9] then fields = redis.call('HGETALL', KEYS[1]) end
return {'ok', 0, lease_expires, w_start, w_end, w_requests, w_tokens, fields, f[14] or '0', f[15] or '0'}
