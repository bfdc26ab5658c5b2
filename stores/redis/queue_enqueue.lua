-- queue_enqueue.lua: appends a batch of jobs to their groups.
-- ARGV: now, then 10 fields per job: id, group, tenant, run_at, mode (0
-- none, 1 debounce, 2 throttle, 3 none and a fresh id: no queued job has
-- it, and it holds no \30), dedup_key ('' = none), origin_key
-- (origin\31kind, '' = none: nobody waits on the job, so it is not
-- counted), stats_key (pipeline\31component\31kind), blob (the job's
-- static fields, opaque), items (events or commands the job holds,
-- counted by queue_stats.lua).
-- Each job added is one record (see queue_lib.lua), inline in its list
-- element when its mode is 3 and it has no origin, else at its key; the
-- elements of one group go in one RPUSH. A new group whose elements are
-- all fast is marked so (field f); elements that are not clear the mark.
-- Id idempotency: an id still queued (pending, delayed, in flight, parked)
-- is ignored; a fresh id is not looked up. Dedup: throttle drops while
-- the holder of the dedup key is queued; debounce replaces a holder that
-- is not in flight (payload, run_at, origin), else queues a successor.
-- Returns the number of jobs added.
local now = tonumber(ARGV[1])
local NF = 10
-- Bytes from which a keyed record's blob is APPENDed to the rest of its
-- record rather than concatenated to it in Lua: one more command (~1.5 us)
-- against hashing the blob once more (~1.2 ns a byte; a fold job of 64
-- events is ~28 kB). Measured on Redis 7.0.
local LONG_BLOB = 2048
local n = (#ARGV - 1) / NF

-- True when job `id` (of group g) is part of the live claim of g.
local function in_flight(id, g)
  local m = redis.call('HMGET', km(g), 's', 'n')
  if m[1] ~= 'claimed' then return false end
  for _, x in ipairs(redis.call('LRANGE', kg(g), 0, tonumber(m[2]) - 1)) do
    if x == id then return true end
  end
  return false
end

-- Debounce: the pending holder takes the new job's payload and timer (ra:
-- run_at as a string), enqueued at now_ (= ARGV[1]).
local function replace(id, blob, ra, origin, now_)
  local t = rec_decode(rec_get(id))
  local old = t.o or ''
  if old ~= origin then
    if old ~= '' and redis.call('HINCRBY', K_ORIGIN, old, -1) <= 0 then
      redis.call('HDEL', K_ORIGIN, old)
    end
    if origin ~= '' then redis.call('HINCRBY', K_ORIGIN, origin, 1) end
  end
  t.b, t.r, t.q = blob, ra, ARGV[1]
  t.o = origin ~= '' and origin or nil
  rec_put(id, t)
  local g = t.g
  if redis.call('LINDEX', kg(g), 0) == id then
    local m = redis.call('HMGET', km(g), 's', 't')
    if m[1] == 'ready' or m[1] == 'due' then
      unschedule(g, m[2], m[1])
      return schedule(g, m[2], now_, now_)
    end
  end
  return 0
end

local added, woken = 0, 0
-- the parts of a usual record that repeat: attempts and enqueued at, and
-- per stats key its field with the empty ones after it (see queue_lib.lua)
local rec_mid = '\31' .. '0\31' .. ARGV[1] .. '\31'
local sk_tails = {}
local pos = redis.call('INCRBY', K_SEQ, n) - n
local origins = {}
-- Id idempotency in one EXISTS of every keyed record when none is queued
-- (the usual case): then a job is fresh unless this call added its id
-- already.
local keys, nk = {}, 0
for i = 0, n - 1 do
  if ARGV[6 + i * NF] ~= '3' then
    nk = nk + 1
    keys[nk] = kj(ARGV[2 + i * NF])
  end
end
local none_queued = nk == 0 or redis.call('EXISTS', unpack(keys)) == 0
-- per group, in order of first appearance: its new elements, pushed at
-- the end in one RPUSH, and its tenant
local pushes, push_order = {}, {}
for i = 0, n - 1 do
  local a = 1 + i * NF
  local id, g, tenant = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local ra, mode, dk = ARGV[a + 4], ARGV[a + 5], ARGV[a + 6] -- ra: a string (see later())
  local origin, sk, blob, items = ARGV[a + 7], ARGV[a + 8], ARGV[a + 9], ARGV[a + 10]
  local fresh = mode == '3' or
                (not pending[id] and (none_queued or redis.call('EXISTS', kj(id)) == 0))
  if fresh and dk ~= '' then
    local holder = redis.call('HGET', K_DEDUP, dk)
    local hrec = holder and rec_get(holder)
    if hrec then
      local hg = rec_decode(hrec).g
      if mode == '2' then
        fresh = false
      elseif not in_flight(holder, hg) then
        if replace(holder, blob, ra, origin, now) > 0 then woken = woken + 1 end
        fresh = false
      end
    end
    if fresh then redis.call('HSET', K_DEDUP, dk, id) end
  end
  if fresh then
    pos = pos + 1
    local elem
    if dk == '' and origin == '' then -- the usual job, without rec_encode's table
      local tail = sk_tails[sk]
      if not tail then
        tail = #sk .. ':' .. sk .. '~~~~~'
        sk_tails[sk] = tail
      end
      -- one concatenation per element or record, the blob last in it:
      -- Redis's Lua hashes every byte of each string it makes, ~1 ns a
      -- byte, so a long blob is not copied into a record at all (below)
      if mode == '3' then
        elem = id .. '\30' .. '0' .. ra .. '\31' .. pos .. rec_mid .. items .. '\31' .. tail .. blob
      else
        local w, long = #pending_writes, #blob >= LONG_BLOB
        pending_writes[w + 1] = kj(id)
        pending_writes[w + 2] = '0' .. ra .. '\31' .. pos .. rec_mid .. items .. '\31' .. tail ..
                                (long and '' or blob)
        if long then pending_tails[w + 2] = blob end
        pending[id] = w + 2
      end
    else
      local rec = rec_encode({r = ra, p = pos, q = ARGV[1], c = items, s = sk, b = blob,
                              g = dk ~= '' and g or nil, d = dk ~= '' and dk or nil,
                              o = origin ~= '' and origin or nil})
      if origin ~= '' then origins[origin] = (origins[origin] or 0) + 1 end
      local w = #pending_writes
      pending_writes[w + 1], pending_writes[w + 2] = kj(id), rec
      pending[id] = w + 2
    end
    local p = pushes[g]
    if not p then
      p = {tenant = tenant, fast = true}
      pushes[g] = p
      push_order[#push_order + 1] = g
    end
    p[#p + 1] = elem or id
    -- fast (see queue_lib.lua): inline, and due when queued
    if not elem or later(ra, ARGV[1]) then p.fast = false end
    added = added + 1
  end
end
if #pending_writes > 0 then redis.call('MSET', unpack(pending_writes)) end
for at, blob in pairs(pending_tails) do redis.call('APPEND', pending_writes[at - 1], blob) end
for _, g in ipairs(push_order) do
  local p = pushes[g]
  -- a group's list is empty exactly when the group has no state yet
  if redis.call('RPUSH', kg(g), unpack(p)) == #p then
    if p.fast then redis.call('HSET', km(g), 't', p.tenant, 'f', '1')
    else redis.call('HSET', km(g), 't', p.tenant) end
    redis.call('SADD', K_GROUPS, g)
    if schedule(g, p.tenant, now, now) > 0 then woken = woken + 1 end
  elseif not p.fast then
    redis.call('HDEL', km(g), 'f')
  end
end
for origin, c in pairs(origins) do redis.call('HINCRBY', K_ORIGIN, origin, c) end
wake(woken)
return added
