-- Keep the id of the audit entry that created a key in the key's record, where its history
-- finds it (see append_audit.lua). KEYS[1] key hash.
-- ARGV[1] the record's field for it   ARGV[2] the entry id
-- A key erased meanwhile is not brought back as a record holding this field alone.
-- Returns 1 when kept, 0 for a key that is gone.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
