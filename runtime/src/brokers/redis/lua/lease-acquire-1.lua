-- Take the beat lease KEYS[1] for holder ARGV[1] for ARGV[2] ms: SET NX PX when it is free,
-- PEXPIRE when the holder already has it (compare-and-renew). 1: the caller holds it now.
local current = redis.call('get', KEYS[1])
if current == ARGV[1] then
  redis.call('pexpire', KEYS[1], ARGV[2])
  return 1
end
if not current then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')
  return 1
end
return 0
