-- kombu `restore_visible`: entries fetched before ARGV[1] (seconds) go back to their queue, at
-- most ARGV[2] of them. Returns {examined, restored}.
-- KEYS: unacked, unacked_index.
--- @include "restore-tag"
local tags = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local n = 0
for _, tag in ipairs(tags) do n = n + restore_tag(tag) end
return { #tags, n }
