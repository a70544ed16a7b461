-- Append one audit entry. KEYS[1] the log stream; KEYS[2] (optional) the key's own stream.
-- ARGV[1] most entries the log keeps (approximately)   ARGV[2] oldest entry id kept ('<ms>-0')
-- ARGV[3] most entries a key's stream keeps   ARGV[4] ms a key's stream lives after its last entry
-- ARGV[5 ..] field, value pairs
-- Returns the new entry's id. Both streams carry the {audit} hash tag (one slot).
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
redis.call('XTRIM', KEYS[1], 'MINID', '~', ARGV[2])
if KEYS[2] then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], id, unpack(fields))
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return id
