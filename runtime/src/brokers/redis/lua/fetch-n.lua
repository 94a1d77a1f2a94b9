-- Atomically take up to ARGV[1] messages across the lists in priority order AND record each in
-- `unacked` (kombu's value: `[<envelope>, exchange, routing_key]`, built by concatenation) and
-- `unacked_index` (score = now): no window in which a crash loses a message.
-- KEYS (a variable number, hence `-n`): unacked, unacked_index, generated-tag counter, delayed, lists...
-- ARGV: count, now, park-from, the JSON-quoted routing key (queue) of each list, then tags to acknowledge.
-- park-from (epoch ms, 0: off): the worker holds as many ETA tasks as it may (`etaTaskLimit`), so a
-- message whose `eta` header is later than this goes into `delayed` (scored by its ETA, the value
-- `unacked` would have had, as park-3.lua would move it) instead of back to the worker: its bytes never
-- leave Redis. Only a well-formed ISO 8601 `eta` is read; anything else goes to the worker, which
-- validates every message it runs (a parked one when it comes back due).
-- Returns a flat array {parked, listIndex, tag, raw, ...}.
local want = tonumber(ARGV[1])
local now = ARGV[2]
local parkFrom = tonumber(ARGV[3]) or 0
-- Acks ride along with the fetch: ARGV after the routing keys are tags to acknowledge first.
local firstAck = 4 + (#KEYS - 4)
if #ARGV >= firstAck then
  local tags = {}
  for j = firstAck, #ARGV do tags[#tags + 1] = ARGV[j] end
  redis.call('HDEL', KEYS[1], unpack(tags))
  redis.call('ZREM', KEYS[2], unpack(tags))
end

-- Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
local function days(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- Epoch ms of the `eta` header, as the worker reads it (protocol/time.ts parseIso: fraction cut to
-- ms, no offset = UTC), or nil for anything but YYYY-MM-DD[T ]HH:MM:SS[.f][Z|±HH[:MM]].
local function etaMs(s)
  if type(s) ~= 'string' or #s > 40 then return nil end
  local y, mo, d, h, mi, sec, rest = string.match(s, '^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d)(.*)$')
  if not y then return nil end
  y, mo, d, h, mi, sec = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or sec > 59 then return nil end
  local ms = 0
  local frac = string.match(rest, '^%.(%d+)')
  if frac then
    ms = tonumber(string.sub(frac .. '00', 1, 3))
    rest = string.sub(rest, #frac + 2)
  end
  local offset = 0
  if rest ~= '' and rest ~= 'Z' and rest ~= 'z' then
    local sign, oh, om = string.match(rest, '^([+-])(%d%d):?(%d?%d?)$')
    if not sign or #om == 1 then return nil end
    offset = (tonumber(oh) * 60 + (tonumber(om) or 0)) * 60000
    if sign == '-' then offset = -offset end
  end
  return ((days(y, mo, d) * 24 + h) * 60 + mi) * 60000 + sec * 1000 + ms - offset
end

-- The ETA (epoch ms) of an envelope to park, or nil: only with park-from set and an `eta` header.
local function parkAt(raw)
  if parkFrom <= 0 or not string.find(raw, '"eta"', 1, true) then return nil end
  local ok, env = pcall(cjson.decode, raw)
  if not ok or type(env) ~= 'table' or type(env.headers) ~= 'table' then return nil end
  local at = etaMs(env.headers.eta)
  if at and at > parkFrom then return at end
  return nil
end

local out, h, z = { 0 }, {}, {}
local n, parked = 0, 0
for i = 5, #KEYS do
  if n >= want then break end
  local items = redis.call('RPOP', KEYS[i], want - n)
  if items then
    local rk = ARGV[i - 1]
    for _, raw in ipairs(items) do
      local stored = raw
      local eta = parkAt(raw)
      if eta then
        redis.call('ZADD', KEYS[4], eta, '[' .. stored .. ', "", ' .. rk .. ']')
        parked = parked + 1
      else
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
        out[#out + 1] = i - 4
        out[#out + 1] = tag
        out[#out + 1] = raw
      end
      n = n + 1
    end
  end
end
if n > parked then
  redis.call('HSET', KEYS[1], unpack(h))
  redis.call('ZADD', KEYS[2], unpack(z))
end
out[1] = parked
return out
