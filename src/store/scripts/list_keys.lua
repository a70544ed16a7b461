-- One page of key ids, sorted and filtered, from the indexes. Without filters it costs
-- O(log N + page); with filters it walks the sorted ids once, in Lua tables, not Redis calls.
-- KEYS[1] created  KEYS[2] by name  KEYS[3] last used  KEYS[4] today's cost  KEYS[5] names
-- KEYS[6] disabled  KEYS[7] expires  KEYS[8] members of the filter tag  KEYS[9] sort scratch
-- ARGV[1] sort: createdAt | name | lastUsedAt | dailyCost   ARGV[2] 'asc' or 'desc'
-- ARGV[3] offset  ARGV[4] count  ARGV[5] tag or ''  ARGV[6] status or ''  ARGV[7] lowercase
-- search text or ''  ARGV[8] now ms
-- Returns {total, id, id, ...}.
local sort, descending = ARGV[1], ARGV[2] == 'desc'
local offset, count = tonumber(ARGV[3]), tonumber(ARGV[4])
local tag, status, query, now = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])

local source = KEYS[1]
if sort == 'name' then source = KEYS[2]
elseif sort == 'lastUsedAt' then source = KEYS[3]
elseif sort == 'dailyCost' then
  -- Keys without cost today score 0 and come after (or before) every key with cost.
  redis.call('ZUNIONSTORE', KEYS[9], 2, KEYS[1], KEYS[4], 'WEIGHTS', 0, 1)
  source = KEYS[9]
end

local function range(first, last)
  if descending then return redis.call('ZRANGE', source, first, last, 'REV') end
  return redis.call('ZRANGE', source, first, last)
end
local function id_of(member)
  if sort ~= 'name' then return member end
  local zero = string.find(member, '\0', 1, true)
  return string.sub(member, zero + 1)
end

local result = {0}
if tag == '' and status == '' and query == '' then
  result[1] = redis.call('ZCARD', source)
  if count > 0 then
    for _, member in ipairs(range(offset, offset + count - 1)) do table.insert(result, id_of(member)) end
  end
else
  local as_set = function(list) local s = {} for _, v in ipairs(list) do s[v] = true end return s end
  local tagged = tag ~= '' and as_set(redis.call('SMEMBERS', KEYS[8])) or nil
  local disabled = status ~= '' and as_set(redis.call('SMEMBERS', KEYS[6])) or nil
  local expired = status ~= '' and as_set(redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', now)) or nil
  local names = nil
  if query ~= '' then
    names = {}
    local flat = redis.call('HGETALL', KEYS[5])
    for i = 1, #flat, 2 do names[flat[i]] = flat[i + 1] end
  end
  local matched = 0
  for _, member in ipairs(range(0, -1)) do
    local id = id_of(member)
    local keep = true
    if tagged and not tagged[id] then keep = false end
    if keep and disabled then
      local key_status = 'active'
      if disabled[id] then key_status = 'disabled' elseif expired[id] then key_status = 'expired' end
      keep = key_status == status
    end
    if keep and names then keep = string.find(names[id] or '', query, 1, true) ~= nil end
    if keep then
      if matched >= offset and matched < offset + count then table.insert(result, id) end
      matched = matched + 1
    end
  end
  result[1] = matched
end
if sort == 'dailyCost' then redis.call('DEL', KEYS[9]) end
return result
