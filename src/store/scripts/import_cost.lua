-- An imported key's cost today, in the index the key list sorts by (an existing entry is kept).
-- KEYS[1] today's cost index  ARGV[1] key id  ARGV[2] cost (nano-USD)  ARGV[3] the index's expiry ms
-- Returns 1.
redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
return 1
