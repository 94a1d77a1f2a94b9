import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** A Lua script run by EVALSHA, loaded with EVAL on NOSCRIPT (after a server restart, say). */
export class RedisScript {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(client: Redis, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}

/**
 * Shared by requeue, shutdown restore and visibility restore: move one `unacked` entry back to
 * its queue (kombu `restore_by_tag` + `_do_restore_message`): the front (RPUSH: consumers RPOP),
 * the priority list from the envelope, `delivery_info.redelivered = true`. The envelope is edited
 * as a string, never re-encoded (cjson would turn `[]` into `{}`).
 */
const RESTORE_TAG = `
local SEP = '\\6\\22'
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
local function restore_tag(tag)
  local v = redis.call('HGET', KEYS[1], tag)
  redis.call('ZREM', KEYS[2], tag)
  if not v then return 0 end
  local ok, t = pcall(cjson.decode, v)
  if not ok or type(t) ~= 'table' or type(t[3]) ~= 'string' then return 0 end
  redis.call('HDEL', KEYS[1], tag)
  local env = t[1]
  local raw
  local pri = 0
  if type(env) == 'string' then
    raw = env
  else
    raw = string.match(v, '^%s*%[(.*),%s*"[^"\\\\]*"%s*,%s*"[^"\\\\]*"%s*%]%s*$')
    if not raw then raw = cjson.encode(env) end
    raw = mark_redelivered(raw)
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
  return 1
end
`;

/**
 * Atomically take up to ARGV[1] messages across the lists in priority order AND record each in
 * `unacked` (kombu's value: `[<envelope>, exchange, routing_key]`, built by concatenation) and
 * `unacked_index` (score = now). No window in which a crash loses a message.
 * KEYS: unacked, unacked_index, generated-tag counter, lists...; ARGV: count, now, JSON-quoted
 * routing key (queue) per list. Returns a flat array [listIndex, tag, raw, ...].
 */
export const FETCH = new RedisScript(`
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
      local tag = at and string.match(raw, '^"delivery_tag"%s*:%s*"([^"\\\\]+)"', at)
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
`);

/** KEYS: unacked, unacked_index; ARGV: tags. Requeue each (front of its queue). Returns how many. */
export const REQUEUE = new RedisScript(`${RESTORE_TAG}
local n = 0
for i = 1, #ARGV do n = n + restore_tag(ARGV[i]) end
return n
`);

/**
 * KEYS: unacked, unacked_index; ARGV: ceil (seconds), limit. kombu `restore_visible`: entries
 * fetched before `ceil` go back to their queue. Returns {examined, restored}.
 */
export const RESTORE_VISIBLE = new RedisScript(`${RESTORE_TAG}
local tags = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local n = 0
for _, tag in ipairs(tags) do n = n + restore_tag(tag) end
return { #tags, n }
`);

/** KEYS: unacked, unacked_index, dead-letter list; ARGV: tag, entry. Only if still held. */
export const DEAD_LETTER = new RedisScript(`
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('LPUSH', KEYS[3], ARGV[2])
  return 1
end
return 0
`);

/** kombu's mutex release (compare-and-delete), byte for byte. */
export const RELEASE_MUTEX = new RedisScript(`
        local token = redis.call('get', KEYS[1])
        if not token or token ~= ARGV[1] then
            return 0
        end
        redis.call('del', KEYS[1])
        return 1
    `);
