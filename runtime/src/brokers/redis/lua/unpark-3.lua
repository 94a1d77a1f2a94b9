-- Parked ETA messages due by ARGV[1] (epoch ms), at most ARGV[2] of them, go back to the front of
-- their queue (any worker, Celery's too, takes them from there). Returns {taken, pushed}; an
-- entry that is not an `unacked` value stays in the set, scored +inf, out of the way.
-- KEYS: unacked, unacked_index (unused: the include's restore_tag needs them), delayed.
--- @include "restore-tag"
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local n = 0
for _, v in ipairs(due) do
  if push_entry(v, false) then
    redis.call('ZREM', KEYS[3], v)
    n = n + 1
  else
    redis.call('ZADD', KEYS[3], 'inf', v)
  end
end
return { #due, n }
