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

local function kj(id) return P .. ':j:' .. id end   -- string: a keyed job's record
local function kg(g) return P .. ':g:' .. g end     -- list: the group's jobs, FIFO
local function km(g) return P .. ':m:' .. g end     -- hash: group state
local function krt(t) return P .. ':rt:' .. t end   -- zset: ready groups of a tenant
local function kheld(p) return P .. ':held:' .. p end -- set: held groups of a pipeline

-- redis.call(cmd, [key,] items...) over a list of any length, in slices of
-- SLICE items (an even number: MSET's pairs stay whole): Lua unpacks at
-- most ~8000 values, and a claim's unit may make more jobs. Key nil: the
-- items are the arguments. Returns the replies, one per slice.
local SLICE = 4000
local function call_sliced(cmd, key, items)
  local replies = {}
  for from = 1, #items, SLICE do
    local to = math.min(from + SLICE - 1, #items)
    replies[#replies + 1] = key and redis.call(cmd, key, unpack(items, from, to))
                                or redis.call(cmd, unpack(items, from, to))
  end
  return replies
end

-- A job's record is one string:
--   x r \31 p \31 a \31 q \31 c \31 s g d o e k b
-- x '1' when the job has a dedup key or an origin, else '0'; then, in
-- decimal, r run_at, p position, a attempts, q enqueued at, c items; then
-- s stats key, g group (dedup jobs), d dedup key, o origin key, e last
-- error, k the record a parked skip leaves (queue_fail.lua), each "<len>:"
-- and its bytes or '~' when absent; then b, the blob, to the end.
-- redis_queue.c parses it in the claim's reply. A record written before
-- records were strings is a hash of those fields: rec_get converts it.
--
-- Where a record lives: each element of a group's list is one job, either
--   inline: id \30 record, the record inside the element itself, or
--   keyed:  id alone, the record at key kj(id) (a string, or a hash of
--           before).
-- A job is inline when its record starts with '0' (no dedup key, no
-- origin: nothing looks it up by id) and its id is fresh (the caller
-- vouches that no queued job has it, so that the id needs no EXISTS of a
-- key; such ids never hold \30). Then an enqueue is one RPUSH per group,
-- a claim one LRANGE, a completion one LTRIM, and the keyspace holds no
-- key per job: a key per job cost Redis an EXISTS, an MSET, an MGET and a
-- DEL entry, several microseconds per job. Every other job is keyed (ids
-- a redo may enqueue again are deduplicated by the EXISTS of their key;
-- dedup holders and origins are found by id). A list may mix both kinds,
-- as does a queue written before inline elements existed (every element
-- keyed then): every reader below takes either.
--
-- A fast group (field f of its state, set when the group is created, in
-- the enqueue, cleared by any later push that is not fast) holds only
-- inline jobs, each due when it was queued (run_at not later than the
-- enqueue's now): then a claim need not read its jobs to know which are
-- claimable (all, the head being due once the group is ready: only a
-- failure rewrites a run_at, the head's, and the group then waits in the
-- due zset), and the claimer reads them itself (queue_claim.lua), so they
-- never pass through Lua. A group created before the mark existed has
-- none, and is claimed the slow way.
local REC_NUM = {'r', 'p', 'a', 'q', 'c'}
local REC_STR = {'s', 'g', 'd', 'o', 'e', 'k'}

-- Records this script wrote but not yet sent (queue_enqueue.lua writes
-- them in one MSET at its end): pending_writes holds the MSET's key,
-- record pairs; pending maps a job id to its record's index there (one
-- table insert per job, and a record replaced later in the call is
-- replaced in place). A record whose blob is long is written in two
-- parts: the part before the blob in the MSET, the blob (pending_tails,
-- at the same index) APPENDed after it; see queue_enqueue.lua.
local pending, pending_writes, pending_tails = {}, {}, {}

local function rec_field(v)
  if not v then return '~' end
  return #v .. ':' .. v
end

-- The record of table t (fields as above; absent numbers default).
local function rec_encode(t)
  return ((t.d or t.o) and '1' or '0') .. t.r .. '\31' .. t.p .. '\31' .. (t.a or '0') .. '\31' ..
         t.q .. '\31' .. (t.c or '1') .. '\31' .. rec_field(t.s) .. rec_field(t.g) ..
         rec_field(t.d) .. rec_field(t.o) .. rec_field(t.e) .. rec_field(t.k) .. t.b
end

-- The fields of record s as a table (numbers as strings).
local function rec_decode(s)
  local t, at = {}, 2
  for _, f in ipairs(REC_NUM) do
    local e = s:find('\31', at, true)
    t[f] = s:sub(at, e - 1)
    at = e + 1
  end
  for _, f in ipairs(REC_STR) do
    if s:byte(at) == 126 then -- '~'
      at = at + 1
    else
      local c = s:find(':', at, true)
      local n = tonumber(s:sub(at, c - 1))
      t[f] = s:sub(c + 1, c + n)
      at = c + n + 1
    end
  end
  t.b = s:sub(at)
  return t
end

-- The record of job id (nil when not queued); one of before is converted.
local function rec_get(id)
  local at = pending[id]
  if at then return pending_writes[at] .. (pending_tails[at] or '') end
  local v = redis.pcall('GET', kj(id))
  if type(v) ~= 'table' then return v or nil end
  local h = redis.call('HGETALL', kj(id))
  if #h == 0 then return nil end
  local t = {}
  for i = 1, #h, 2 do t[h[i]] = h[i + 1] end
  local s = rec_encode(t)
  redis.call('DEL', kj(id))
  redis.call('SET', kj(id), s)
  return s
end

-- Writes the record of job id (from a table of its fields).
local function rec_put(id, t)
  local s = rec_encode(t)
  local at = pending[id]
  if at then pending_writes[at], pending_tails[at] = s, nil
  else redis.call('SET', kj(id), s) end
end

-- The id and record of list element e (see above): an inline element's
-- record from e itself, a keyed one's from its key (nil when missing).
local function elem_get(e)
  local i = e:find('\30', 1, true)
  if i then return e:sub(1, i - 1), e:sub(i + 1) end
  return e, rec_get(e)
end

-- Rewrites the job of element e, index `at` of g's list, from a table of
-- its fields: in the element when inline (LSET), else at its key.
local function elem_put(g, at, e, t)
  local i = e:find('\30', 1, true)
  if i then redis.call('LSET', kg(g), at, e:sub(1, i) .. rec_encode(t))
  else rec_put(e, t) end
end

-- The run_at of record s, as a string.
local function rec_run_at(s)
  return s:sub(2, s:find('\31', 2, true) - 1)
end

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
  local _, rec = elem_get(head)
  local ra = tonumber(rec_run_at(rec))
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
  local s = rec_get(id)
  local t = s and rec_decode(s) or {}
  if t.d and redis.call('HGET', K_DEDUP, t.d) == id then
    redis.call('HDEL', K_DEDUP, t.d)
  end
  if t.o and redis.call('HINCRBY', K_ORIGIN, t.o, -1) <= 0 then
    redis.call('HDEL', K_ORIGIN, t.o)
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

-- Removes the first n jobs of g (the done part of a claim). `x`, what the
-- claim saw of them (field x of the group state): '2' every one inline,
-- so the LTRIM is all; '1' none has a dedup key or an origin, so the
-- records of the keyed ones go in one DEL; else each is dropped with its
-- bookkeeping.
local function pop_jobs(g, n, x)
  if n <= 0 then return end
  if x ~= '2' then
    local keys = {}
    for _, e in ipairs(redis.call('LRANGE', kg(g), 0, n - 1)) do
      if not e:find('\30', 1, true) then
        if x == '1' then keys[#keys + 1] = kj(e) else drop_job(e) end
      end
    end
    call_sliced('DEL', nil, keys)
  end
  redis.call('LTRIM', kg(g), n, -1)
end
