/**
 * The Redis job store's Lua scripts: every change of a job's status is one script, so two
 * instances never both claim a job, and a lease passes on only through the reaper. Times are
 * the Redis server's TIME, so instances with drifting clocks agree on when a lease ran out.
 *
 * Layout under the prefix `p` (e.g. `llm-router:jobs:`):
 *   p job:<id>   HASH   the record's fields (request, result, error as JSON; lease as leaseOwner + leaseUntil);
 *                       PEXPIRE resultTtlMs once the job ends
 *   p queue      ZSET   queued ids, score = when claimable (ms): submit time, or a retry's backoff
 *   p running    ZSET   leased ids, score = lease end (ms): what the reaper scans
 *   p events     channel  {"type":"queued"} | {"type":"cancel","id":…}
 *
 * Scripts that pick a job from a set build its key from the prefix (ARGV): not for Redis
 * Cluster, like the rest of the state module.
 */
const COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function fmt(x) return string.format('%.0f', x) end
local function settle(key, now, ttl)
  redis.call('HSET', key, 'expiresAt', fmt(now + ttl))
  redis.call('PEXPIRE', key, ttl)
end
`;

/** KEYS: job, queue. ARGV: maxQueued, id, channel, field, value, …. Returns 1, 0 (queue full) or -1 (id taken). */
export const CREATE_LUA = `${COMMON}
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], now_ms(), ARGV[2])
redis.call('PUBLISH', ARGV[3], '{"type":"queued"}')
return 1
`;

/**
 * KEYS: queue, running. ARGV: job key prefix, instance, leaseMs, updatedAt. The oldest claimable
 * queued job becomes running under a lease of this instance (a new run: progress from 0);
 * returns its fields (HGETALL) or false.
 */
export const CLAIM_LUA = `${COMMON}
local now = now_ms()
for _ = 1, 20 do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1)
  if #ids == 0 then return false end
  local id = ids[1]
  redis.call('ZREM', KEYS[1], id)
  local key = ARGV[1] .. id
  if redis.call('HGET', key, 'status') == 'queued' then
    local lease_until = now + tonumber(ARGV[3])
    redis.call('HINCRBY', key, 'attempts', 1)
    redis.call('HSET', key, 'status', 'running', 'leaseOwner', ARGV[2], 'leaseUntil', fmt(lease_until), 'updatedAt', ARGV[4], 'progress', '0')
    redis.call('HDEL', key, 'runAfter')
    redis.call('ZADD', KEYS[2], lease_until, id)
    return redis.call('HGETALL', key)
  end
end
return false
`;

/**
 * KEYS: job, running. ARGV: instance, leaseMs ('' = unchanged: a progress note), id, completion
 * tokens ('' = unchanged). Extends the lease if this instance holds it. Returns {held 0|1, cancelRequested 0|1}.
 */
export const RENEW_LUA = `${COMMON}
local cancel = redis.call('HGET', KEYS[1], 'cancel') == '1' and 1 or 0
if redis.call('HGET', KEYS[1], 'leaseOwner') ~= ARGV[1] then return {0, cancel} end
if ARGV[2] ~= '' then
  local lease_until = now_ms() + tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 'leaseUntil', fmt(lease_until))
  redis.call('ZADD', KEYS[2], lease_until, ARGV[3])
end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'progress', ARGV[4]) end
return {1, cancel}
`;

/**
 * KEYS: job, running. ARGV: instance, id, status, field ('result' | 'error' | ''), JSON,
 * updatedAt, ttlMs, completion tokens. Ends the run of the lease holder (a job cancelled
 * meanwhile stays cancelled, its result dropped). Returns the fields, or false when not held.
 */
export const FINISH_LUA = `${COMMON}
if redis.call('HGET', KEYS[1], 'leaseOwner') ~= ARGV[1] then return false end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[1], 'leaseOwner', 'leaseUntil')
if redis.call('HGET', KEYS[1], 'status') == 'cancelled' or ARGV[3] == 'cancelled' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled')
else
  redis.call('HSET', KEYS[1], 'status', ARGV[3])
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], ARGV[4], ARGV[5]) end
end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[6], 'progress', ARGV[8])
settle(KEYS[1], now_ms(), tonumber(ARGV[7]))
return redis.call('HGETALL', KEYS[1])
`;

/**
 * KEYS: job, running, queue. ARGV: instance, id, delayMs, uncount ('1' | '0'), updatedAt,
 * ttlMs, channel. Gives the lease holder's job back to the queue (a retry,
 * or a clean shutdown that does not count the attempt); a job cancelled meanwhile is settled.
 * Returns the fields, or false when not held.
 */
export const RELEASE_LUA = `${COMMON}
if redis.call('HGET', KEYS[1], 'leaseOwner') ~= ARGV[1] then return false end
local now = now_ms()
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[1], 'leaseOwner', 'leaseUntil')
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[5])
if redis.call('HGET', KEYS[1], 'status') == 'cancelled' then
  settle(KEYS[1], now, tonumber(ARGV[6]))
  return redis.call('HGETALL', KEYS[1])
end
if ARGV[4] == '1' and tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0') > 0 then redis.call('HINCRBY', KEYS[1], 'attempts', -1) end
local delay = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'status', 'queued')
if delay > 0 then redis.call('HSET', KEYS[1], 'runAfter', fmt(now + delay)) end
redis.call('ZADD', KEYS[3], now + delay, ARGV[2])
if delay == 0 then redis.call('PUBLISH', ARGV[7], '{"type":"queued"}') end
return redis.call('HGETALL', KEYS[1])
`;

/**
 * KEYS: job, queue. ARGV: owner, id, updatedAt, ttlMs, channel. Cancels the owner's job: a
 * queued one is settled at once, a running one is marked and its runner told on the channel.
 * Returns {settled 0|1, fields…}, or false when there is no such job of this owner.
 */
export const CANCEL_LUA = `${COMMON}
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return false end
local status = redis.call('HGET', KEYS[1], 'status')
local settled = 0
if status == 'queued' then
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'cancel', '1', 'updatedAt', ARGV[3])
  redis.call('HDEL', KEYS[1], 'runAfter')
  settle(KEYS[1], now_ms(), tonumber(ARGV[4]))
  settled = 1
elseif status == 'running' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'cancel', '1', 'updatedAt', ARGV[3])
  redis.call('PUBLISH', ARGV[5], cjson.encode({ type = 'cancel', id = ARGV[2] }))
end
local out = { settled }
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do out[#out + 1] = v end
return out
`;

/**
 * KEYS: running, queue. ARGV: job key prefix, maxAttempts, ttlMs, updatedAt, channel.
 * Jobs whose lease ran out (their instance died or lost Redis for a whole lease): queued
 * again while attempts < maxAttempts, else failed `interrupted: …`; a cancelled one is
 * settled. At most 100 a call. Returns {id, new status, …}.
 */
export const REAP_LUA = `${COMMON}
local now = now_ms()
local ttl = tonumber(ARGV[3])
local out = {}
local requeued = false
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)) do
  local key = ARGV[1] .. id
  local status = redis.call('HGET', key, 'status')
  local lease_until = tonumber(redis.call('HGET', key, 'leaseUntil') or '')
  if (status ~= 'running' and status ~= 'cancelled') or not redis.call('HGET', key, 'leaseOwner') then
    redis.call('ZREM', KEYS[1], id)
  elseif lease_until and lease_until > now then
    redis.call('ZADD', KEYS[1], lease_until, id)
  else
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', key, 'leaseOwner', 'leaseUntil')
    redis.call('HSET', key, 'updatedAt', ARGV[4])
    if status == 'cancelled' then
      settle(key, now, ttl)
      out[#out + 1] = id
      out[#out + 1] = 'cancelled'
    else
      local attempts = tonumber(redis.call('HGET', key, 'attempts') or '0')
      if attempts < tonumber(ARGV[2]) then
        redis.call('HSET', key, 'status', 'queued')
        redis.call('ZADD', KEYS[2], now, id)
        requeued = true
        out[#out + 1] = id
        out[#out + 1] = 'queued'
      else
        local message = 'interrupted: the router stopped while it ran (' .. attempts .. ' attempt' .. (attempts == 1 and '' or 's') .. ')'
        redis.call('HSET', key, 'status', 'failed', 'error', cjson.encode({ message = message, type = 'server_error', code = 'job_interrupted', status = 500 }))
        settle(key, now, ttl)
        out[#out + 1] = id
        out[#out + 1] = 'failed'
      end
    end
  end
end
if requeued then redis.call('PUBLISH', ARGV[5], '{"type":"queued"}') end
return out
`;
