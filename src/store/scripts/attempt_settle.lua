-- Settles a counted attempt once its outcome is known.
-- KEYS[1..n]: attempt counters, all in one hash slot.
-- ARGV[i]: what to do with KEYS[i]: 'undo' takes this one attempt back (never below zero,
-- never creating the counter, keeping its expiry); 'clear' deletes the counter; 'keep' nothing.
-- Reply: 0.
for i, key in ipairs(KEYS) do
  if ARGV[i] == 'clear' then
    redis.call('DEL', key)
  elseif ARGV[i] == 'undo' and tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
return 0
