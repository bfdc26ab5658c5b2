-- queue_lib.lua: helpers shared by every queue_*.lua script; the store
-- prepends this file to each script before loading it (see redis_script.c).
-- KEYS[1] is the queue's hash tag "{name}"; every key below starts with it.
local P = KEYS[1]
local K_SEQ = P .. ':seq'         -- INCR: job positions
local K_TOK = P .. ':tok'         -- INCR: fencing tokens
local K_RR = P .. ':rr'           -- INCR: round-robin tickets of tenants
local K_DUE = P .. ':due'         -- zset group -> head run_at (not yet ready)
local K_TENANTS = P .. ':tenants' -- zset tenant -> ticket (has ready groups)
local K_LEASES = P .. ':leases'   -- zset group -> lease_until (claimed)
local K_PARKED = P .. ':parked'   -- zset group -> parked_at
local K_DEDUP = P .. ':dedup'     -- hash tenant\31dedup_id -> job id
local K_ORIGIN = P .. ':origin'   -- hash origin\31kind -> queued job count
local K_GROUPS = P .. ':groups'   -- set of groups with jobs (for stats)
local K_WAKE = P .. ':wake'       -- list of wakeup tokens for idle claimers
local K_DEAD = P .. ':dead'       -- list of skipped jobs (JSON), capped
local K_PAUSES = P .. ':pauses'   -- hash pipeline\31component\31tenant -> mode\31paused_at

local function kj(id) return P .. ':j:' .. id end   -- hash: one job
local function kg(g) return P .. ':g:' .. g end     -- list: job ids, FIFO
local function km(g) return P .. ':m:' .. g end     -- hash: group state
local function krt(t) return P .. ':rt:' .. t end   -- zset: ready groups of a tenant
local function kheld(p) return P .. ':held:' .. p end -- set: held groups of a pipeline

-- True when time a is later than time b, both decimal integers as Redis
-- returns them (no leading zeros), compared as strings: Redis's Lua
-- converts with strtod and printf, which cost about a microsecond each for
-- 13-digit millisecond times, so per-job paths keep times as strings.
local function later(a, b)
  if a:byte(1) == 45 or b:byte(1) == 45 then return tonumber(a) > tonumber(b) end -- '-'
  return #a > #b or (#a == #b and a > b)
end

-- The tenant, pipeline and component of a pipeline group key
-- "tenant\31pipeline\31component\31key"; nil for any other group.
local function group_scope(g)
  return g:match('^([^\31]*)\31([^\31]*)\31([^\31]*)\31')
end

-- True when a pause covers (tenant, pipeline, component): one of exactly
-- that scope, of the whole pipeline ('' component), of every tenant (''
-- tenant), or both. O(1): one HMGET of four fields.
local function paused(t, p, c)
  local m = redis.call('HMGET', K_PAUSES, p .. '\31' .. c .. '\31' .. t, p .. '\31\31' .. t,
                       p .. '\31' .. c .. '\31', p .. '\31\31')
  return (m[1] or m[2] or m[3] or m[4]) and true or false
end

-- Makes a group whose head is due claimable: into its tenant's ready zset
-- (scored by the time it became ready, FIFO within the tenant) and the
-- tenant into the round-robin zset (at the back when it was not there).
local function make_ready(g, tenant, since)
  redis.call('ZADD', krt(tenant), since, g)
  if not redis.call('ZSCORE', K_TENANTS, tenant) then
    redis.call('ZADD', K_TENANTS, redis.call('INCR', K_RR), tenant)
  end
  redis.call('HSET', km(g), 's', 'ready')
end

-- Places an idle group by its head: ready when the head is due at `now`
-- (ready since max(run_at, since)), else in the due zset at the head's
-- run_at. An empty group is forgotten. Returns 1 ready, 2 due, 0 gone.
local function schedule(g, tenant, now, since)
  local head = redis.call('LINDEX', kg(g), 0)
  if not head then
    redis.call('DEL', km(g))
    redis.call('SREM', K_GROUPS, g)
    return 0
  end
  local ra = tonumber(redis.call('HGET', kj(head), 'r'))
  if ra <= now then
    make_ready(g, tenant, math.max(ra, since))
    return 1
  end
  redis.call('ZADD', K_DUE, ra, g)
  redis.call('HSET', km(g), 's', 'due')
  return 2
end

-- Takes an idle group out of the ready or due structures.
local function unschedule(g, tenant, state)
  if state == 'ready' then
    redis.call('ZREM', krt(tenant), g)
    if redis.call('EXISTS', krt(tenant)) == 0 then
      redis.call('ZREM', K_TENANTS, tenant)
    end
  elseif state == 'due' then
    redis.call('ZREM', K_DUE, g)
  end
end

-- Deletes one job record with its dedup and origin bookkeeping.
local function drop_job(id)
  local f = redis.call('HMGET', kj(id), 'd', 'o')
  if f[1] and redis.call('HGET', K_DEDUP, f[1]) == id then
    redis.call('HDEL', K_DEDUP, f[1])
  end
  if f[2] and redis.call('HINCRBY', K_ORIGIN, f[2], -1) <= 0 then
    redis.call('HDEL', K_ORIGIN, f[2])
  end
  redis.call('DEL', kj(id))
end

-- Pushes up to n wakeup tokens for blocked claimers (the list stays short).
local function wake(n)
  if n <= 0 then return end
  for _ = 1, math.min(n, 64) do redis.call('LPUSH', K_WAKE, '1') end
  redis.call('LTRIM', K_WAKE, 0, 63)
end

-- True when `tok` is the live token of g's claim and its lease has not
-- passed at `now`.
local function token_live(g, tok, now)
  local m = redis.call('HMGET', km(g), 's', 'tok', 'lu')
  return m[1] == 'claimed' and m[2] == tok and tonumber(m[3]) >= now
end

-- Ends the claim of g and places the group again (ready since `now`);
-- `tenant` is g's (read when nil). Returns what schedule returns.
local function release(g, now, tenant)
  redis.call('ZREM', K_LEASES, g)
  local placed = schedule(g, tenant or redis.call('HGET', km(g), 't'), now, now)
  if placed > 0 then redis.call('HDEL', km(g), 'tok', 'lu', 'n', 'w', 'x') end
  return placed
end

-- Removes the first n jobs of g (the done part of a claim). `plain`: none
-- of them has a dedup key or an origin (the claim saw that), so their
-- records go in one DEL.
local function pop_jobs(g, n, plain)
  if n <= 0 then return end
  local ids = redis.call('LRANGE', kg(g), 0, n - 1)
  if plain then
    for i, id in ipairs(ids) do ids[i] = kj(id) end
    redis.call('DEL', unpack(ids))
  else
    for _, id in ipairs(ids) do drop_job(id) end
  end
  redis.call('LTRIM', kg(g), n, -1)
end
