-- Shared by requeue, shutdown restore and visibility restore: move one `unacked` entry back to
-- its queue (kombu `restore_by_tag` + `_do_restore_message`): the front (RPUSH: consumers RPOP),
-- the priority list from the envelope, `delivery_info.redelivered = true`. The envelope is edited
-- as a string, never re-encoded (cjson would turn `[]` into `{}`).
-- KEYS[1]: unacked, KEYS[2]: unacked_index.
local SEP = '\6\22'
local function mark_redelivered(raw)
  if string.find(raw, '"redelivered"', 1, true) then return raw end
  local s, c = string.gsub(raw, '"delivery_info"(%s*):(%s*){(%s*)}', '"delivery_info"%1:%2{"redelivered": true}', 1)
  if c == 0 then s, c = string.gsub(raw, '"delivery_info"(%s*):(%s*){', '"delivery_info"%1:%2{"redelivered": true, ', 1) end
  if c == 0 then s, c = string.gsub(raw, '"properties"(%s*):(%s*){(%s*)}', '"properties"%1:%2{"delivery_info": {"redelivered": true}}', 1) end
  if c == 0 then s, c = string.gsub(raw, '"properties"(%s*):(%s*){', '"properties"%1:%2{"delivery_info": {"redelivered": true}, ', 1) end
  return s
end
local function lookup(ex, rk)
  if ex == '' then return { rk } end
  local out = {}
  for _, m in ipairs(redis.call('SMEMBERS', '_kombu.binding.' .. ex)) do
    local a = string.find(m, SEP, 1, true)
    if a then
      local b = string.find(m, SEP, a + 2, true)
      if b and string.sub(m, 1, a - 1) == rk then out[#out + 1] = string.sub(m, b + 2) end
    end
  end
  if #out == 0 then out[1] = rk end
  return out
end
-- Push one `unacked`-shaped value `[<envelope>, exchange, routing_key]` back to its queue's
-- front; `redelivered`: mark it so (a parked ETA message coming due is not a redelivery).
-- Returns false when `v` is not such a value.
local function push_entry(v, redelivered)
  local ok, t = pcall(cjson.decode, v)
  if not ok or type(t) ~= 'table' or type(t[3]) ~= 'string' then return false end
  local env = t[1]
  local raw
  local pri = 0
  if type(env) == 'string' then
    raw = env
  else
    raw = string.match(v, '^%s*%[(.*),%s*"[^"\\]*"%s*,%s*"[^"\\]*"%s*%]%s*$')
    if not raw then raw = cjson.encode(env) end
    if redelivered then raw = mark_redelivered(raw) end
    if type(env) == 'table' and type(env.properties) == 'table' then pri = tonumber(env.properties.priority) or 0 end
  end
  if pri < 0 then pri = 0 elseif pri > 9 then pri = 9 end
  local step = 0
  if pri >= 9 then step = 9 elseif pri >= 6 then step = 6 elseif pri >= 3 then step = 3 end
  local ex = t[2]
  if type(ex) ~= 'string' then ex = '' end
  for _, q in ipairs(lookup(ex, t[3])) do
    if step > 0 then q = q .. SEP .. step end
    redis.call('RPUSH', q, raw)
  end
  return true
end
local function restore_tag(tag)
  local v = redis.call('HGET', KEYS[1], tag)
  redis.call('ZREM', KEYS[2], tag)
  if not v then return 0 end
  if not push_entry(v, true) then return 0 end
  redis.call('HDEL', KEYS[1], tag)
  return 1
end
