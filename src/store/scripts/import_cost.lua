-- An imported key's cost today, in the index the key list sorts by (an existing entry is kept),
-- announced on the listing's change stream like a usage record's (see record_ledger.lua).
-- KEYS[1] today's cost index  KEYS[2] the listing's change stream
-- ARGV[1] key id  ARGV[2] cost (nano-USD)  ARGV[3] the index's expiry ms  ARGV[4] last used ms
-- ARGV[5] the change stream's approximate length cap
-- Returns 1.
redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
local cost_now = redis.call('ZSCORE', KEYS[1], ARGV[1]) or '0'
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '0-*', 'o', 'c', 'i', ARGV[1], 'l', ARGV[4],
  'd', KEYS[1], 'v', cost_now)
return 1
