-- Append one audit entry to the log, and to its key's history when it names a key.
-- KEYS[1] the log stream; with a key: KEYS[2] the key's history (a list, newest first, each
-- item `id \t actor \t actorIp \t action \t changes`), KEYS[3] the previous release's creation
-- entries (hash: key id -> the id of the log entry that created the key). All carry the
-- {audit} hash tag.
-- ARGV[1] most entries the log keeps (approximately)   ARGV[2] oldest entry id kept ('<ms>-0')
-- ARGV[3] most entries a key's history keeps   ARGV[4] ms a key's history lives after its last entry
-- ARGV[5] key id or ''   ARGV[6] '1' when this entry creates the key
-- ARGV[7] the id of the entry that created the key, as its record keeps it, or ''
-- ARGV[8 ..] field, value pairs; none (with a key) appends nothing and only starts the key's
-- history as below, so it keeps the creation entry once the record is erased
-- A key's creation entry is not copied into a history of its own: most keys are never changed,
-- and a list per key costs far more than the entry. Its log id is kept in the key's record
-- instead (written by the caller: the record is in another slot), or was kept in KEYS[3] by the
-- previous release; the first later entry starts the history with a copy of it (from the log,
-- while the log still has it).
-- Returns the new entry's id, or false when there was none.
local fields = {}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = false
if #fields > 0 then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
  redis.call('XTRIM', KEYS[1], 'MINID', '~', ARGV[2])
end
if not KEYS[2] then return id end

local function history_item(entry_id, pairs)
  local f = {}
  for i = 1, #pairs, 2 do f[pairs[i]] = pairs[i + 1] end
  return table.concat({entry_id, f.actor or '', f.actorIp or '', f.action or '',
    f.changes or '{}'}, '\t')
end

local key_id = ARGV[5]
if ARGV[6] == '1' then
  -- What the previous release kept here belongs to an earlier key of the same id (erased).
  redis.call('HDEL', KEYS[3], key_id)
  return id
end
local written = false
if redis.call('EXISTS', KEYS[2]) == 0 then
  local created = ARGV[7]
  if created == '' then created = redis.call('HGET', KEYS[3], key_id) end
  if created then
    local found = redis.call('XRANGE', KEYS[1], created, created)
    if found[1] then
      redis.call('RPUSH', KEYS[2], history_item(created, found[1][2]))
    else
      -- Trimmed from the log already: what is left is that it was made, and when.
      redis.call('RPUSH', KEYS[2], created .. '\t\t\tcreate\t{}')
    end
    written = true
  end
  redis.call('HDEL', KEYS[3], key_id)
end
if id then
  redis.call('LPUSH', KEYS[2], history_item(id, fields))
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
  written = true
end
-- The history lives some time after its last entry (an existing one is not made to live longer
-- by a call that added nothing).
if written then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
return id
