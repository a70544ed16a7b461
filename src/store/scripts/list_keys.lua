-- One page of key ids, sorted and filtered, from the indexes.
-- Without filters: O(log N + page). With a tag or search filter: the matching ids are
-- collected first (a tag's members, or one pass over the name index), then ordered by their
-- sort score. With only a status filter: one pass over the sorted ids. Filters use Lua
-- tables, not a Redis call per key.
-- KEYS[1] created  KEYS[2] by name  KEYS[3] last used  KEYS[4] today's cost  KEYS[5] disabled
-- KEYS[6] expires  KEYS[7] members of the filter tag  KEYS[8] sort scratch
-- ARGV[1] sort: createdAt | name | lastUsedAt | dailyCost   ARGV[2] 'asc' or 'desc'
-- ARGV[3] offset  ARGV[4] count  ARGV[5] tag or ''  ARGV[6] status or ''  ARGV[7] lowercase
-- search text or ''  ARGV[8] now ms
-- Returns {total, id, id, ...}.
local sort, descending = ARGV[1], ARGV[2] == 'desc'
local offset, count = tonumber(ARGV[3]), tonumber(ARGV[4])
local tag, status, query, now = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])

local function as_set(list)
  local set = {}
  for _, v in ipairs(list) do set[v] = true end
  return set
end

-- The status test, built only when a status filter is asked for.
local keeps_status = function() return true end
if status ~= '' then
  local disabled = as_set(redis.call('SMEMBERS', KEYS[5]))
  local expired = as_set(redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now))
  keeps_status = function(id)
    local s = 'active'
    if disabled[id] then s = 'disabled' elseif expired[id] then s = 'expired' end
    return s == status
  end
end

local result = {0}
local function take(ids)
  result[1] = #ids
  for i = offset + 1, math.min(offset + count, #ids) do table.insert(result, ids[i]) end
end

if tag ~= '' or query ~= '' then
  -- Candidates in name order: the name index holds 'lowercase name \0 id'.
  local tagged = tag ~= '' and as_set(redis.call('SMEMBERS', KEYS[7])) or nil
  local matched = {}
  local find, sub = string.find, string.sub
  for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    -- Cheapest test first: most members fail the search, so they cost a single find.
    local keep, zero = true, nil
    if query ~= '' then
      local first, last = find(member, query, 1, true)
      if first then
        zero = find(member, '\0', first, true)
        keep = zero ~= nil and last < zero
      else
        keep = false
      end
    end
    if keep then
      zero = zero or find(member, '\0', 1, true)
      local id = sub(member, zero + 1)
      if (not tagged or tagged[id]) and keeps_status(id) then matched[#matched + 1] = id end
    end
  end
  if sort == 'name' then
    if descending then
      local n = #matched
      for i = 1, math.floor(n / 2) do matched[i], matched[n - i + 1] = matched[n - i + 1], matched[i] end
    end
  else
    local source = KEYS[1]
    if sort == 'lastUsedAt' then source = KEYS[3] elseif sort == 'dailyCost' then source = KEYS[4] end
    local score = {}
    for _, id in ipairs(matched) do score[id] = tonumber(redis.call('ZSCORE', source, id) or '0') end
    table.sort(matched, function(a, b)
      if score[a] ~= score[b] then
        if descending then return score[a] > score[b] end
        return score[a] < score[b]
      end
      if descending then return a > b end
      return a < b
    end)
  end
  take(matched)
else
  local source = KEYS[1]
  if sort == 'name' then source = KEYS[2]
  elseif sort == 'lastUsedAt' then source = KEYS[3]
  elseif sort == 'dailyCost' then
    -- Keys without cost today score 0 and come after (or before) every key with cost.
    redis.call('ZUNIONSTORE', KEYS[8], 2, KEYS[1], KEYS[4], 'WEIGHTS', 0, 1)
    source = KEYS[8]
  end
  local function range(first, last)
    if descending then return redis.call('ZRANGE', source, first, last, 'REV') end
    return redis.call('ZRANGE', source, first, last)
  end
  local function id_of(member)
    if sort ~= 'name' then return member end
    return string.sub(member, string.find(member, '\0', 1, true) + 1)
  end
  if status == '' then
    result[1] = redis.call('ZCARD', source)
    if count > 0 then
      for _, member in ipairs(range(offset, offset + count - 1)) do table.insert(result, id_of(member)) end
    end
  else
    local matched = {}
    for _, member in ipairs(range(0, -1)) do
      local id = id_of(member)
      if keeps_status(id) then table.insert(matched, id) end
    end
    take(matched)
  end
  if sort == 'dailyCost' then redis.call('DEL', KEYS[8]) end
end
return result
