-- A chord part returns (Celery's RedisBackend.on_chord_part_return, with its keys, atomically).
-- KEYS[1] celery-taskset-meta-<gid>.j  sorted set of [1, tid, state, result] by group_index (Celery's)
-- KEYS[2] celery-taskset-meta-<gid>.t  parts added later (Celery's add_to_chord), may be absent
-- KEYS[3] celery-taskset-meta-<gid>.s  the chord's size (Celery's set_chord_size)
-- KEYS[4] celery-taskset-meta-<gid>.sprig-parts  the part task ids counted (a redelivered part counts once)
-- KEYS[5] celery-taskset-meta-<gid>.sprig-fired  the part that completed the join
-- KEYS[6] celery-taskset-meta-<gid>.sprig-done   set when the body was sent and the join deleted
-- ARGV[1] the encoded entry, ARGV[2] its score (group_index or +inf), ARGV[3] the part's task id,
-- ARGV[4] expiry in seconds (0: none)
-- Returns {1, entries} to the one part that completes the chord (and to that part again if it
-- is redelivered before the join was cleaned up: it died before sending the body), else {0}.
-- A part that returns after the body was sent (redelivered, acks late) writes nothing: it would
-- recreate the join's keys.
if redis.call('EXISTS', KEYS[6]) == 1 then
  return {0}
end
local new = redis.call('SADD', KEYS[4], ARGV[3])
if new == 1 then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
local ready = redis.call('ZCARD', KEYS[1])
local diff = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local size = redis.call('GET', KEYS[3])
local exp = tonumber(ARGV[4])
if exp > 0 then
  redis.call('EXPIRE', KEYS[1], exp)
  redis.call('EXPIRE', KEYS[2], exp)
  redis.call('EXPIRE', KEYS[3], exp)
  redis.call('EXPIRE', KEYS[4], exp)
end
if not size then
  return {0}
end
if ready ~= (tonumber(size) or -1) + diff then
  return {0}
end
local fired = redis.call('GET', KEYS[5])
if fired and fired ~= ARGV[3] then
  return {0}
end
if not fired then
  if new == 0 then
    return {0}
  end
  redis.call('SET', KEYS[5], ARGV[3])
  if exp > 0 then redis.call('EXPIRE', KEYS[5], exp) end
end
return {1, redis.call('ZRANGE', KEYS[1], 0, -1)}
