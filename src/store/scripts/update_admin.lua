-- Sets one field of an existing admin record, optionally moving its session epoch on (which
-- ends every session signed in before), never creating a record.
-- KEYS[1]: the admin's record (hash).
-- ARGV[1]: field; ARGV[2]: value; ARGV[3]: '1' to move the session epoch on, '0' not to.
-- Reply: 1 when updated, 0 when no such admin exists.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '1' then
  redis.call('HINCRBY', KEYS[1], 'sessionEpoch', 1)
end
return 1
