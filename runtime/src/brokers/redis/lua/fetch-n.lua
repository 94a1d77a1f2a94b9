-- Atomically take up to ARGV[1] messages across the lists in priority order AND record each in
-- `unacked` (kombu's value: `[<envelope>, exchange, routing_key]`, built by concatenation) and
-- `unacked_index` (score = now): no window in which a crash loses a message.
-- KEYS (a variable number, hence `-n`): unacked, unacked_index, generated-tag counter, lists...
-- ARGV: count, now, the JSON-quoted routing key (queue) of each list, then tags to acknowledge.
-- Returns a flat array {listIndex, tag, raw, ...}.
local want = tonumber(ARGV[1])
local now = ARGV[2]
-- Acks ride along with the fetch: ARGV after the routing keys are tags to acknowledge first.
local firstAck = 3 + (#KEYS - 3)
if #ARGV >= firstAck then
  local tags = {}
  for j = firstAck, #ARGV do tags[#tags + 1] = ARGV[j] end
  redis.call('HDEL', KEYS[1], unpack(tags))
  redis.call('ZREM', KEYS[2], unpack(tags))
end
local out, h, z = {}, {}, {}
local n = 0
for i = 4, #KEYS do
  if n >= want then break end
  local items = redis.call('RPOP', KEYS[i], want - n)
  if items then
    local rk = ARGV[i - 1]
    for _, raw in ipairs(items) do
      local stored = raw
      -- A plain find first: a pattern scan from the start costs more than the rest of the loop.
      local at = string.find(raw, '"delivery_tag"', 1, true)
      local tag = at and string.match(raw, '^"delivery_tag"%s*:%s*"([^"\\]+)"', at)
      if not tag then
        local ok, env = pcall(cjson.decode, raw)
        if ok and type(env) == 'table' then
          if type(env.properties) == 'table' and type(env.properties.delivery_tag) == 'string' then
            tag = env.properties.delivery_tag
          end
        else
          stored = cjson.encode(raw)
        end
        if not tag then tag = 'sprig-gen-' .. redis.call('INCR', KEYS[3]) end
      end
      h[#h + 1] = tag
      h[#h + 1] = '[' .. stored .. ', "", ' .. rk .. ']'
      z[#z + 1] = now
      z[#z + 1] = tag
      out[#out + 1] = i - 3
      out[#out + 1] = tag
      out[#out + 1] = raw
      n = n + 1
    end
  end
end
if n > 0 then
  redis.call('HSET', KEYS[1], unpack(h))
  redis.call('ZADD', KEYS[2], unpack(z))
end
return out
