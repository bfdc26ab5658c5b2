-- queue_claim.lua: claims up to max_jobs consecutive due jobs at the head
-- of one ready group, round-robin across tenants, then FIFO by ready time
-- within a tenant. Cost O(log n) in the number of groups: a bounded number
-- of expired leases and due groups is moved per call, then one ZPOPMIN on
-- the tenants zset and one on that tenant's ready zset.
-- Kill switch: a popped group covered by a pause (one HMGET) is held
-- instead: state 'held', in its pipeline's held set, out of every zset
-- until a resume (queue_pause_set.lua) places it again; at most 64 groups
-- are held per call.
-- ARGV: now, lease_ms, max_jobs, worker.
-- Returns {token, lease_until, group, e1, r1, e2, r2, ...}, per job either
-- a keyed job's id and false (nil in the reply: the caller reads the
-- record at its key, MGET, rather than have it pass through Lua), or an
-- inline job's list element and '' (queue_lib.lua describes both); or {token, lease_until, group, n} for a
-- fast group (queue_lib.lua): its first n list elements are claimed, all
-- inline, and the caller reads them (LRANGE 0 n-1: no other client pops
-- or rewrites a claimed group's jobs), which spares Lua a copy and a hash
-- of every byte of them; or {0, next} when nothing is ready, where next
-- is the earliest time something may become ready (due head or lease
-- expiry), -1 if none, or `now` when groups were held (the ready set may
-- hold more: claim again).
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local max_jobs, worker = tonumber(ARGV[3]), ARGV[4]

for _, g in ipairs(redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', '(' .. ARGV[1], 'LIMIT', 0, 16)) do
  release(g, now)
end
local due = redis.call('ZRANGEBYSCORE', K_DUE, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 64)
for i = 1, #due, 2 do
  local g = due[i]
  redis.call('ZREM', K_DUE, g)
  schedule(g, redis.call('HGET', km(g), 't'), now, tonumber(due[i + 1]))
end

-- Holds g when a pause covers it; true when held.
local function hold(g)
  local t, p, c = group_scope(g)
  if not t or not paused(t, p, c) then return false end
  redis.call('SADD', kheld(p), g)
  redis.call('HSET', km(g), 's', 'held')
  return true
end

-- Leases g for a claim of n jobs; x as pop_jobs takes it. Returns the
-- token and the lease's end.
local function lease_group(g, n, x)
  local tok = redis.call('INCR', K_TOK)
  local lu = now + lease
  redis.call('HSET', km(g), 's', 'claimed', 'tok', tok, 'lu', lu, 'n', n, 'w', worker, 'x', x)
  redis.call('ZADD', K_LEASES, lu, g)
  return tok, lu
end

-- Claims the due head jobs of the ready group g (popped from tenant's
-- zset); the reply, or nil when its head is not due.
local function take(g, tenant)
  if redis.call('HGET', km(g), 'f') then
    local n = math.min(redis.call('LLEN', kg(g)), max_jobs)
    if n > 0 then
      local tok, lu = lease_group(g, n, 2)
      return {tok, lu, g, n}
    end
  end
  local out = {0, 0, g}
  local elems = redis.call('LRANGE', kg(g), 0, max_jobs - 1)
  local taken, x = 0, 2 -- x: what pop_jobs needs to know (queue_lib.lua)
  for _, e in ipairs(elems) do
    local c = e:find('\30', 1, true)
    local ra, head
    if c then
      ra = e:sub(c + 2, e:find('\31', c + 2, true) - 1)
    else
      -- a keyed job: the head of its record (x, run_at) is enough here;
      -- the claimer reads the record itself (false in the reply)
      head = redis.pcall('GETRANGE', kj(e), 0, 63)
      if type(head) ~= 'string' or not head:find('\31', 2, true) then
        head = rec_get(e) -- a record of before is a hash
      end
      ra = rec_run_at(head)
    end
    if later(ra, ARGV[1]) then break end
    if head then
      if head:byte(1) ~= 48 then x = 0 -- '0': no dedup key nor origin
      elseif x == 2 then x = 1 end
    end
    out[4 + taken * 2], out[5 + taken * 2] = e, c and '' or false
    taken = taken + 1
  end
  if taken > 0 then
    out[1], out[2] = lease_group(g, taken, x)
    return out
  end
  -- a ready group whose head is not due (cannot happen while the
  -- structures are consistent): place it again and look further
  schedule(g, tenant, now, now)
  return nil
end

local tries, held = 0, 0
while tries < 16 and held < 64 do
  local t = redis.call('ZPOPMIN', K_TENANTS)
  if #t == 0 then break end
  local tenant = t[1]
  local gr = redis.call('ZPOPMIN', krt(tenant))
  if redis.call('EXISTS', krt(tenant)) == 1 then
    redis.call('ZADD', K_TENANTS, redis.call('INCR', K_RR), tenant)
  end
  if #gr > 0 and hold(gr[1]) then
    held = held + 1
  else
    tries = tries + 1
    if #gr > 0 then
      local out = take(gr[1], tenant)
      if out then return out end
    end
  end
end
if held > 0 then return {0, now} end

local next = -1
local d = redis.call('ZRANGE', K_DUE, 0, 0, 'WITHSCORES')
if #d > 0 then next = tonumber(d[2]) end
local l = redis.call('ZRANGE', K_LEASES, 0, 0, 'WITHSCORES')
if #l > 0 and (next < 0 or tonumber(l[2]) + 1 < next) then next = tonumber(l[2]) + 1 end
return {0, next}
