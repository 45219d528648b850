/**
 * The Redis session store's scripts: each call is one script, so the owner check, the read or
 * write and the idle-expiry refresh happen as one step, and two appends to one session can
 * never interleave (Redis runs one script at a time). Scores and expiry use the Redis
 * server's clock (TIME), the same for every router instance.
 *
 * Layout, for prefix P, owner tag T (see owner-tag.ts) and session id I; the `{P…T}` hash tag
 * puts all of one owner's keys in one cluster slot:
 *   P{T}s:I  hash: owner, created, updated (ISO), bytes, lead (messages of the system prompt)
 *   P{T}m:I  list: the messages, each its wire JSON with `role` first
 *   P{T}i    sorted set: the owner's session ids by last use (µs), for maxSessionsPerOwner
 * Every key of a session (and the owner's index) gets PEXPIRE idleTtlMs on every use.
 */

const COMMON = `
-- Microseconds of the Redis clock, as an exact decimal string (a Lua number prints 14 digits).
local function now_us()
  local t = redis.call('TIME')
  return t[1] .. string.format('%06d', tonumber(t[2]))
end

local function touch(idx, meta, msgs, id, ttl, now)
  redis.call('PEXPIRE', meta, ttl)
  redis.call('PEXPIRE', msgs, ttl)
  redis.call('ZADD', idx, now, id)
  redis.call('PEXPIRE', idx, ttl)
end

-- Room for one more session (id) of this owner: forget expired ids, drop the least recently used.
local function make_room(idx, base, id, ttl, now, max)
  redis.call('ZREM', idx, id)
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', string.format('%.0f', tonumber(now) - tonumber(ttl) * 1000))
  local n = redis.call('ZCARD', idx)
  while n >= max do
    local popped = redis.call('ZPOPMIN', idx)
    if #popped == 0 then break end
    redis.call('DEL', base .. 's:' .. popped[1], base .. 'm:' .. popped[1])
    n = n - 1
  end
end
`;

/** KEYS: index, meta, messages. ARGV: owner, ttl, id. → false | {created, updated, bytes, messages}. */
export const GET_LUA = `${COMMON}
if redis.call('HGET', KEYS[2], 'owner') ~= ARGV[1] then return false end
touch(KEYS[1], KEYS[2], KEYS[3], ARGV[3], ARGV[2], now_us())
local m = redis.call('HMGET', KEYS[2], 'created', 'updated', 'bytes')
return {m[1], m[2], m[3], redis.call('LRANGE', KEYS[3], 0, -1)}
`;

/** KEYS: index, meta, messages. ARGV: owner, ttl, id, now (ISO), maxSessionsPerOwner, owner key base. → 1 created, 0 exists. */
export const CREATE_LUA = `${COMMON}
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local ttl = ARGV[2]
local now = now_us()
make_room(KEYS[1], ARGV[6], ARGV[3], ttl, now, tonumber(ARGV[5]))
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[2], 'owner', ARGV[1], 'created', ARGV[4], 'updated', ARGV[4], 'bytes', 0, 'lead', 0)
touch(KEYS[1], KEYS[2], KEYS[3], ARGV[3], ttl, now)
return 1
`;

/** KEYS: index, meta, messages. ARGV: owner, id. → 1 deleted, 0 none. */
export const DELETE_LUA = `
if redis.call('HGET', KEYS[2], 'owner') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[1], ARGV[2])
return 1
`;

/**
 * KEYS: index, meta, messages. ARGV: owner, ttl, id, now (ISO), maxSessionsPerOwner, owner key
 * base, maxSessionBytes, maxMessages, how many of the messages are a new system prompt, then
 * the messages. → {'ok', created, bytes, count, dropped} | {'too_large', bytes, count} | {'not_found'}.
 *
 * The trim rules are session-trim.ts's \`planTrim\`, line for line (1-based here).
 */
export const APPEND_LUA = `${COMMON}
local function push(key, list, from, to)
  local i = from
  while i <= to do
    local j = math.min(i + 199, to)
    redis.call('RPUSH', key, unpack(list, i, j))
    i = j + 1
  end
end

-- role, tool calls and answered call of a stored message; only assistant and tool messages are decoded
local function info(s)
  local role = string.match(s, '^{"role":"(%a+)"')
  local r = { role = role }
  if role ~= 'assistant' and role ~= 'tool' then return r end
  local ok, m = pcall(cjson.decode, s)
  if not ok or type(m) ~= 'table' then return r end
  if role == 'assistant' and type(m.tool_calls) == 'table' then
    local calls = {}
    for _, c in ipairs(m.tool_calls) do
      if type(c) == 'table' and type(c.id) == 'string' then calls[#calls + 1] = c.id end
    end
    r.calls = calls
  end
  if role == 'tool' and type(m.tool_call_id) == 'string' then r.answers = m.tool_call_id end
  return r
end

local function plan_trim(history, added, from, total, count, max_bytes, max_messages)
  local n = #history
  local seq = n + (#added - from + 1)
  local reach, caller, roles = {}, {}, {}
  for j = 1, seq do
    local m = info(j <= n and history[j] or added[from + j - n - 1])
    roles[j] = m.role
    if m.answers then
      local i = caller[m.answers]
      if i and i <= n and (reach[i] or 0) < j then reach[i] = j end
    end
    if m.calls then for _, id in ipairs(m.calls) do caller[id] = j end end
  end
  local dropped, farthest = 0, 0
  local best_bytes, best_count = total, count
  for c = 1, n do
    dropped = dropped + #history[c]
    if (reach[c] or 0) > farthest then farthest = reach[c] end
    if (c == n or roles[c + 1] == 'user') and farthest <= c then
      best_bytes, best_count = total - dropped, count - c
      if best_bytes <= max_bytes and best_count <= max_messages then return true, c, best_bytes, best_count end
    end
  end
  return false, 0, best_bytes, best_count
end

local owner = redis.call('HGET', KEYS[2], 'owner')
if owner and owner ~= ARGV[1] then return {'not_found'} end
local ttl = ARGV[2]
local max_bytes, max_messages, new_lead = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local created, bytes, lead = ARGV[4], 0, 0
if owner then
  local m = redis.call('HMGET', KEYS[2], 'created', 'bytes', 'lead')
  created, bytes, lead = m[1], tonumber(m[2]) or 0, tonumber(m[3]) or 0
else
  redis.call('DEL', KEYS[3])
end
local added, added_bytes = {}, 0
for i = 10, #ARGV do
  added[#added + 1] = ARGV[i]
  added_bytes = added_bytes + #ARGV[i]
end
local old_lead = {}
if lead > 0 then old_lead = redis.call('LRANGE', KEYS[3], 0, lead - 1) end
local old_lead_bytes = 0
if new_lead > 0 then for _, s in ipairs(old_lead) do old_lead_bytes = old_lead_bytes + #s end end
local len = redis.call('LLEN', KEYS[3])
local count = len + #added
if new_lead > 0 then count = count - lead end
local total = bytes - old_lead_bytes + added_bytes
local dropped = 0

if total <= max_bytes and count <= max_messages then
  if new_lead > 0 then
    if lead > 0 then redis.call('LTRIM', KEYS[3], lead, -1) end
    for i = new_lead, 1, -1 do redis.call('LPUSH', KEYS[3], added[i]) end
  end
  push(KEYS[3], added, new_lead + 1, #added)
else
  local history = redis.call('LRANGE', KEYS[3], lead, -1)
  local ok, drop, b, c = plan_trim(history, added, new_lead + 1, total, count, max_bytes, max_messages)
  if not ok then return {'too_large', b, c} end
  redis.call('DEL', KEYS[3])
  if new_lead > 0 then push(KEYS[3], added, 1, new_lead) else push(KEYS[3], old_lead, 1, #old_lead) end
  push(KEYS[3], history, drop + 1, #history)
  push(KEYS[3], added, new_lead + 1, #added)
  dropped, total, count = drop, b, c
end

local now = now_us()
if not owner then make_room(KEYS[1], ARGV[6], ARGV[3], ttl, now, tonumber(ARGV[5])) end
if new_lead > 0 then lead = new_lead end
redis.call('HSET', KEYS[2], 'owner', ARGV[1], 'created', created, 'updated', ARGV[4], 'bytes', total, 'lead', lead)
touch(KEYS[1], KEYS[2], KEYS[3], ARGV[3], ttl, now)
return {'ok', created, total, count, dropped}
`;
