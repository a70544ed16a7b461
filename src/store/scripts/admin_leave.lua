-- Takes an admin out of the roster of active `admin`-role admins, unless that would leave the
-- roster empty: the rule that nobody removes, disables or demotes the last admin. The roster
-- only ever lists admins that are active admins (it is left before a record loses the role and
-- joined after one gains it), so an empty roster would mean no admin could manage admins.
-- KEYS[1]: the roster (set of usernames).
-- ARGV[1]: the username leaving (an active `admin` now, in the roster or not).
-- Reply: 1 when it left (or was not listed and others remain), 0 when refused (it is the last).
local others = redis.call('SCARD', KEYS[1]) - redis.call('SISMEMBER', KEYS[1], ARGV[1])
if others < 1 then
  return 0
end
redis.call('SREM', KEYS[1], ARGV[1])
return 1
