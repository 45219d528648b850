/**
 * The limiter's Lua scripts: a port of `buckets.ts` (same names, same order, same epsilon),
 * run atomically by Redis so every router instance sees one set of buckets. The clock is the
 * Redis server's TIME, so instances with drifting clocks still agree.
 *
 * Storage per bucket (keys built by the caller under the prefix):
 *   rate         HASH  t = tokens, a = at (ms)     expires once it would be full again
 *   period       HASH  s = spent,  p = period start expires after the period ends (total: never)
 *   concurrency  ZSET  member = reservation id, score = its expiry (ms); expired ones swept here
 *   reservation  STRING JSON of what was taken, PX ttl: settle reads and deletes it (idempotent)
 *
 * Results are JSON (cjson): Lua numbers returned bare would be truncated to integers. A
 * `total` period's reset travels as -1 (cjson keeps 14 digits, too few for 2^53 − 1).
 */
const COMMON = `
local EPS = 1e-9
local DAY = 86400000
local CONC_RETRY = 1000

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function fmt(x) return string.format('%.17g', x) end

-- Howard Hinnant's days <-> civil date algorithms (proleptic Gregorian, UTC).
local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m
end

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- start, stop of the period holding now; stop is nil for 'total' (never ends)
local function period_bounds(period, now)
  if period == 'total' then return 0, nil end
  local day = math.floor(now / DAY)
  if period == 'day' then return day * DAY, (day + 1) * DAY end
  local y, m = civil_from_days(day)
  local ny, nm = y, m + 1
  if nm > 12 then ny, nm = y + 1, 1 end
  return days_from_civil(y, m, 1) * DAY, days_from_civil(ny, nm, 1) * DAY
end

local function rate_tokens(key, limit, window, now)
  local v = redis.call('HMGET', key, 't', 'a')
  if not v[1] then return limit end
  local elapsed = math.max(0, now - tonumber(v[2]))
  return math.min(limit, tonumber(v[1]) + elapsed * limit / window)
end

local function period_spent(key, start)
  local v = redis.call('HMGET', key, 's', 'p')
  if not v[1] or tonumber(v[2]) ~= start then return 0 end
  return tonumber(v[1])
end

local function write_rate(key, tokens, limit, window, now)
  redis.call('HSET', key, 't', fmt(tokens), 'a', fmt(now))
  -- a full bucket equals a missing one: let Redis drop it then (plus a second of slack)
  redis.call('PEXPIRE', key, math.ceil(math.max(0, limit - tokens) * window / limit) + 1000)
end

local function write_period(key, spent, start, stop, now)
  redis.call('HSET', key, 's', fmt(spent), 'p', fmt(start))
  if stop then redis.call('PEXPIRE', key, stop - now + 60000) else redis.call('PERSIST', key) end
end

local function reset_of(stop, now)
  if stop == nil then return -1 end
  return math.max(0, stop - now)
end

local function fits(s, v)
  if s.k == 'rate' then
    if s.a <= 0 then return v > EPS end
    if s.a > s.l then return v >= s.l - EPS end
    return v >= s.a - EPS
  elseif s.k == 'period' then
    if s.a <= 0 then return v < s.l - EPS end
    return v + s.a <= s.l + EPS
  end
  return v < s.l
end

local function retry_after(s, lv, now)
  if s.k == 'rate' then
    local need = math.min(math.max(s.a, EPS * 2), s.l)
    return math.max(1, math.ceil((need - lv.v) * s.w / s.l))
  elseif s.k == 'period' then
    return reset_of(lv.stop, now)
  end
  return CONC_RETRY
end

local function state(s, lv, now)
  if s.k == 'rate' then
    return { r = math.max(0, math.floor(lv.v + EPS)), t = math.ceil(math.max(0, s.l - lv.v) * s.w / s.l) }
  elseif s.k == 'period' then
    return { r = math.max(0, s.l - lv.v), t = reset_of(lv.stop, now) }
  end
  return { r = math.max(0, s.l - lv.v), t = 0 }
end

-- level of bucket i now; sweep: whether expired concurrency entries may be removed
local function level(s, key, now, sweep)
  if s.k == 'rate' then return { v = rate_tokens(key, s.l, s.w, now) } end
  if s.k == 'period' then
    local start, stop = period_bounds(s.p, now)
    return { v = period_spent(key, start), start = start, stop = stop }
  end
  if sweep then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    return { v = redis.call('ZCARD', key) }
  end
  return { v = redis.call('ZCOUNT', key, '(' .. now, '+inf') }
end
`;

/**
 * KEYS: one per bucket (in spec order), then the reservation key.
 * ARGV: specs as JSON [{k, l, w?, a?, p?}], reservation id, ttl (ms).
 * Returns JSON {ok, states[, refused (1-based), retry]}.
 */
export const RESERVE_LUA = `${COMMON}
local specs = cjson.decode(ARGV[1])
local id = ARGV[2]
local ttl = tonumber(ARGV[3])
local now = now_ms()
local levels = {}
local refused = 0
for i, s in ipairs(specs) do
  levels[i] = level(s, KEYS[i], now, true)
  if refused == 0 and not fits(s, levels[i].v) then refused = i end
end
local states = {}
if refused > 0 then
  for i, s in ipairs(specs) do states[i] = state(s, levels[i], now) end
  return cjson.encode({ ok = false, refused = refused, retry = retry_after(specs[refused], levels[refused], now), states = states })
end
local parts, conc = {}, {}
for i, s in ipairs(specs) do
  local lv = levels[i]
  if s.k == 'rate' then
    lv.v = lv.v - s.a
    write_rate(KEYS[i], lv.v, s.l, s.w, now)
    parts[#parts + 1] = { k = 'rate', key = s.key, rk = KEYS[i], a = s.a, l = s.l, w = s.w }
  elseif s.k == 'period' then
    lv.v = lv.v + s.a
    write_period(KEYS[i], lv.v, lv.start, lv.stop, now)
    parts[#parts + 1] = { k = 'period', key = s.key, rk = KEYS[i], a = s.a, p = s.p, s = lv.start }
  else
    lv.v = lv.v + 1
    redis.call('ZADD', KEYS[i], now + ttl, id)
    if redis.call('PTTL', KEYS[i]) < ttl + 1000 then redis.call('PEXPIRE', KEYS[i], ttl + 1000) end
    conc[#conc + 1] = KEYS[i]
  end
  states[i] = state(s, lv, now)
end
local rk = KEYS[#specs + 1]
redis.call('SET', rk, cjson.encode({ id = id, exp = now + ttl, p = parts, c = conc }), 'PX', ttl)
return cjson.encode({ ok = true, states = states })
`;

/**
 * KEYS: the reservation key. ARGV: actual amounts as JSON {bucketKey: amount}.
 * Returns 1 when it settled something, 0 when the reservation was gone (settled or expired).
 */
export const SETTLE_LUA = `${COMMON}
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
redis.call('DEL', KEYS[1])
local r = cjson.decode(raw)
local now = now_ms()
for _, ck in ipairs(r.c) do redis.call('ZREM', ck, r.id) end
if now >= r.exp then return 1 end
local actual = cjson.decode(ARGV[1])
for _, p in ipairs(r.p) do
  local amount = actual[p.key]
  if type(amount) == 'number' and amount - p.a ~= 0 then
    local delta = amount - p.a
    if p.k == 'rate' then
      local tokens = rate_tokens(p.rk, p.l, p.w, now)
      write_rate(p.rk, math.min(p.l, tokens - delta), p.l, p.w, now)
    else
      local start, stop = period_bounds(p.p, now)
      local spent = period_spent(p.rk, start)
      if start == p.s or delta > 0 then
        write_period(p.rk, math.max(0, spent + delta), start, stop, now)
      end
    end
  end
end
return 1
`;

/** KEYS: one per bucket. ARGV: specs as JSON. Returns JSON [state…]; writes nothing. */
export const PEEK_LUA = `${COMMON}
local specs = cjson.decode(ARGV[1])
local now = now_ms()
local states = {}
for i, s in ipairs(specs) do states[i] = state(s, level(s, KEYS[i], now, false), now) end
return cjson.encode(states)
`;

/** Test hook: the script's period bounds at a given ms, to check them against `periodBounds`. ARGV: period, ms. */
export const PERIOD_BOUNDS_LUA = `${COMMON}
local start, stop = period_bounds(ARGV[1], tonumber(ARGV[2]))
return { fmt(start), stop and fmt(stop) or 'never' }
`;
