-- Move a held message to its dead-letter list, only if it is still held.
-- KEYS: unacked, unacked_index, dead-letter list; ARGV: tag, entry. Returns 1 if moved.
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('LPUSH', KEYS[3], ARGV[2])
  return 1
end
return 0
