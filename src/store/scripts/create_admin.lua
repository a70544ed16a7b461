-- Creates an admin record unless one exists: password hash and role set together, so no
-- record ever exists without its role (a record without one reads as `admin`: older records).
-- KEYS[1]: the admin's record (hash).
-- ARGV[1]: argon2id password hash; ARGV[2]: role (viewer | operator | admin).
-- Reply: 1 when created, 0 when the admin already existed (nothing changed).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'passwordHash', ARGV[1], 'role', ARGV[2])
return 1
