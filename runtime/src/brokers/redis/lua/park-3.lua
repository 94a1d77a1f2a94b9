-- Park held ETA messages on the broker until they are due (the worker's bound on the ETA tasks it
-- holds, `worker.etaTaskLimit`): each tag's `unacked` entry moves, as is, into a sorted set scored
-- by its ETA (epoch ms), in one step, so it is never in both places nor in neither.
-- KEYS: unacked, unacked_index, delayed. ARGV: tag, eta, tag, eta, ... Returns how many moved.
local n = 0
for i = 1, #ARGV, 2 do
  local tag = ARGV[i]
  local v = redis.call('HGET', KEYS[1], tag)
  if v then
    redis.call('ZADD', KEYS[3], ARGV[i + 1], v)
    redis.call('HDEL', KEYS[1], tag)
    redis.call('ZREM', KEYS[2], tag)
    n = n + 1
  end
end
return n
