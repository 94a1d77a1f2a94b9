-- Record a beat's runs and publish their messages in one step, only while ARGV[1] holds the lease.
-- KEYS[1]: the lease, KEYS[2]: the state hash, then per message its list key and its binding set.
-- ARGV[1]: holder, ARGV[2]: n state changes, then n times (field, has-expected '0'|'1', expected,
-- value), then per message (binding member, raw envelope).
-- Returns 1 (done), 0 (the caller does not hold the lease) or -1 (a field is not what was expected:
-- another scheduler moved it, or this commit already ran and was resent). 0 and -1 change nothing.
if redis.call('get', KEYS[1]) ~= ARGV[1] then
  return 0
end
local n = tonumber(ARGV[2])
local a = 3
for _ = 1, n do
  local current = redis.call('hget', KEYS[2], ARGV[a])
  if ARGV[a + 1] == '1' then
    if current ~= ARGV[a + 2] then
      return -1
    end
  elseif current then
    return -1
  end
  a = a + 4
end
a = 3
for _ = 1, n do
  redis.call('hset', KEYS[2], ARGV[a], ARGV[a + 3])
  a = a + 4
end
local k = 3
while k <= #KEYS do
  redis.call('sadd', KEYS[k + 1], ARGV[a])
  redis.call('lpush', KEYS[k], ARGV[a + 1])
  k = k + 2
  a = a + 2
end
return 1
