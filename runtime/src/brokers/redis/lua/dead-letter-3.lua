-- Move a held message to its dead-letter list, only if it is still held; keep the list's newest
-- ARGV[3] entries (LPUSH puts the newest at the head; readers take the oldest from the tail).
-- KEYS: unacked, unacked_index, dead-letter list; ARGV: tag, entry, max length. Returns 1 if moved.
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('LPUSH', KEYS[3], ARGV[2])
  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1)
  return 1
end
return 0
