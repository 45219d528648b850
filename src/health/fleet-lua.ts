/**
 * The fleet layer's Lua scripts: each is one atomic step, so two instances deciding at once
 * never both win. Keys are built by the caller under the key prefix (see redis-fleet-store.ts).
 */

/**
 * A conditional transition. KEYS[1] the target's hash. ARGV[1] the state it must be in ('' any;
 * an absent hash is healthy), ARGV[2] the version it must be at ('' any), ARGV[3] the events
 * channel, ARGV[4] the message without its version (a JSON object: `"ver":N,` is spliced in
 * after its brace), ARGV[5..] field/value pairs. Returns {1, version} when written and
 * published, else {0, HGETALL} (the record that stood in the way).
 */
export const WRITE_LUA = `
local cur = redis.call('HMGET', KEYS[1], 'ver', 'state')
local ver = tonumber(cur[1]) or 0
local state = cur[2]
if not state or state == '' then state = 'healthy' end
if (ARGV[1] ~= '' and ARGV[1] ~= state) or (ARGV[2] ~= '' and tonumber(ARGV[2]) ~= ver) then
  return {0, redis.call('HGETALL', KEYS[1])}
end
ver = ver + 1
redis.call('HSET', KEYS[1], 'ver', ver, unpack(ARGV, 5))
redis.call('PUBLISH', ARGV[3], '{"ver":' .. ver .. ',' .. string.sub(ARGV[4], 2))
return {1, ver}
`;

/** A probe result. KEYS[1] the target's hash. ARGV[1] the probe (JSON), ARGV[2] channel, ARGV[3] message. */
export const PROBE_LUA = `
redis.call('HSET', KEYS[1], 'lastProbe', ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`;

/**
 * The probe lease (SET NX PX, renewed by its holder). KEYS[1] the lease. ARGV[1] this instance,
 * ARGV[2] lease ms. Returns 1 while this instance holds it.
 */
export const LEASE_LUA = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;

/**
 * One shadow slot of a probation. KEYS[1] its slots (ZSET: member = slot id, score = expiry
 * ms on the Redis clock, so a slot of a dead instance frees itself), KEYS[2] its good count.
 * ARGV[1] slot id, ARGV[2] most in flight, ARGV[3] budget (in flight + good may not reach it),
 * ARGV[4] slot ttl ms. Returns 1 when taken.
 */
export const TAKE_SLOT_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local inflight = redis.call('ZCARD', KEYS[1])
local good = tonumber(redis.call('GET', KEYS[2]) or '0')
if inflight >= tonumber(ARGV[2]) or inflight + good >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`;

/**
 * Frees a slot and counts a good result, in one step (so in flight + good never counts a call
 * twice). KEYS as TAKE_SLOT_LUA. ARGV[1] slot id ('' none: a live call), ARGV[2] '1' when good,
 * ARGV[3] ttl ms of the good count. Returns the good count (INCR: each value is seen by one caller).
 */
export const SETTLE_SLOT_LUA = `
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
if ARGV[2] == '1' then
  local n = redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return n
end
return tonumber(redis.call('GET', KEYS[2]) or '0')
`;

/**
 * An instance's heartbeat. KEYS[1] its view, KEYS[2] the index of instances. ARGV[1] the view
 * (JSON), ARGV[2] ttl ms, ARGV[3] its expiry (ms), ARGV[4] instance id, ARGV[5] now (ms). The
 * index expires with its longest-lived member, so a fleet that is gone leaves nothing behind.
 */
export const BEAT_LUA = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[2], last[2]) end
return 1
`;
