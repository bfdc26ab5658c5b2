-- queue_push.lua: appending jobs to their groups, shared by the scripts
-- that enqueue (queue_enqueue.lua, queue_finish.lua); the store prepends
-- it, after queue_lib.lua, to those scripts only (see redis_script.c).
-- A script calls push_jobs for each run of jobs in its ARGV, then
-- push_flush once: the records and list elements of every run go out
-- together (one MSET, one RPUSH per group).
-- Jobs are read from ARGV, 10 fields each: id, group, tenant, run_at, mode
-- (0 none, 1 debounce, 2 throttle, 3 none and a fresh id: no queued job
-- has it, and it holds no \30), dedup_key ('' = none), origin_key
-- (origin\31kind, '' = none: nobody waits on the job, so it is not
-- counted), stats_key (pipeline\31component\31kind), blob (the job's
-- static fields, opaque), items (events or commands the job holds,
-- counted by queue_stats.lua); or 5 fields for a job of mode 4 (below):
-- id, group, tenant, its list element, '4' (mode at the same place); or
-- 10 fields for a job of mode 5 (below): those 5 with '5', then the
-- fold's hash, from_seq, last_seq, state, from_state ('' for none).
-- Each job added is one record (see queue_lib.lua), inline in its list
-- element when its mode is 3 or 4 and it has no origin, else at its key.
-- A new group whose elements are all fast is marked so (field f);
-- elements that are not clear the mark.
-- Mode 4 is a fast job (inline and due) whose element the caller built,
-- position included (redis_queue.c): it is pushed as it came, so its
-- blob is hashed once (when Redis makes ARGV) rather than again in a
-- concatenation (~1.2 ns a byte), and it takes 5 arguments, not 10. Its
-- position comes from a block the caller reserved, so such positions
-- follow enqueue order only within one caller: a keyed fold's jobs, whose
-- positions are their last_seq, are never sent so.
-- Mode 5 is a fast fold job (as mode 4) whose fold its unit already ran
-- (es_job fold_write, queue_finish.lua only): when the fold's group has
-- no job (none of its events waits: the state read holds them all) and
-- its stored seq and state (its hash, redis_fold.c; 0 and '' when none)
-- are still from_seq and from_state, the state and last_seq are written
-- there instead, as fold_put.lua writes them, and the job is not queued;
-- else it is queued as mode 4 (a replay's swap may have put another state
-- at the same seq: the seq alone does not say).
-- Id idempotency: an id still queued (pending, delayed, in flight, parked)
-- is ignored; a fresh id is not looked up. Dedup: throttle drops while
-- the holder of the dedup key is queued; debounce replaces a holder that
-- is not in flight (payload, run_at, origin), else queues a successor.
local PUSH_NF, PUSH_NF_FAST, PUSH_NF_FOLD = 10, 5, 10

-- The number of ARGV fields of the job at ARGV[a].
local function job_fields(a)
  local mode = ARGV[a + 4]
  return mode == '4' and PUSH_NF_FAST or mode == '5' and PUSH_NF_FOLD or PUSH_NF
end

-- Mode 5: writes the fold state of the job at ARGV[a] (at now_s) when its
-- group has no job and its hash still holds from_seq and from_state; true
-- when written (the job is then dropped).
local function fold_written(a, now_s)
  if redis.call('EXISTS', kg(ARGV[a + 1])) == 1 then return false end
  local h = ARGV[a + 5]
  local cur = redis.call('HMGET', h, 'seq', 'state')
  if (cur[1] or '0') ~= ARGV[a + 6] or (cur[2] or '') ~= ARGV[a + 9] then return false end
  redis.call('HSET', h, 'state', ARGV[a + 8], 'seq', ARGV[a + 7], 'at', now_s)
  return true
end

-- The index after the n jobs whose fields start at ARGV[first].
local function skip_jobs(first, n)
  for _ = 1, n do first = first + job_fields(first) end
  return first
end

-- Bytes from which a keyed record's blob is APPENDed to the rest of its
-- record rather than concatenated to it in Lua: one more command (~1.5 us)
-- against hashing the blob once more (~1.2 ns a byte; a fold job of 64
-- events is ~28 kB). Measured on Redis 7.0.
local LONG_BLOB = 2048

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
-- run_at as a string), enqueued at now_s (a string).
local function replace(id, blob, ra, origin, now_s)
  local t = rec_decode(rec_get(id))
  local old = t.o or ''
  if old ~= origin then
    if old ~= '' and redis.call('HINCRBY', K_ORIGIN, old, -1) <= 0 then
      redis.call('HDEL', K_ORIGIN, old)
    end
    if origin ~= '' then redis.call('HINCRBY', K_ORIGIN, origin, 1) end
  end
  t.b, t.r, t.q = blob, ra, now_s
  t.o = origin ~= '' and origin or nil
  rec_put(id, t)
  local g = t.g
  if redis.call('LINDEX', kg(g), 0) == id then
    local m = redis.call('HMGET', km(g), 's', 't')
    if m[1] == 'ready' or m[1] == 'due' then
      unschedule(g, m[2], m[1])
      local now = tonumber(now_s)
      return schedule(g, m[2], now, now)
    end
  end
  return 0
end

-- What push_jobs gathered for push_flush: per group, in order of first
-- appearance, its new elements (pushed at the end in one RPUSH) and its
-- tenant; the origins' counts; groups woken by debounce replacements.
local pushes, push_order, push_origins = {}, {}, {}
local push_added, push_woken = 0, 0
-- the parts of a usual record that repeat: per stats key its field with
-- the empty ones after it (see queue_lib.lua)
local sk_tails = {}

-- Appends list element e to group g's push; `fast`: e is a fast job.
local function push_to(g, tenant, e, fast)
  local p = pushes[g]
  if not p then
    p = {tenant = tenant, fast = true}
    pushes[g] = p
    push_order[#push_order + 1] = g
  end
  p[#p + 1] = e
  if not fast then p.fast = false end
  push_added = push_added + 1
end

-- Adds the job (not of mode 4) whose fields start at ARGV[a], enqueued at
-- now_s (a string; rec_mid: the record's part that holds it), at position
-- pos + 1 when it is added; none_queued: no keyed record of this call's
-- jobs existed when it began. Returns the last position used.
local function push_record(a, now_s, rec_mid, pos, none_queued)
  local id, g, tenant = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local ra, mode, dk = ARGV[a + 3], ARGV[a + 4], ARGV[a + 5] -- ra: a string (see later())
  local origin, sk, blob, items = ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9]
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
        if replace(holder, blob, ra, origin, now_s) > 0 then push_woken = push_woken + 1 end
        fresh = false
      end
    end
    if fresh then redis.call('HSET', K_DEDUP, dk, id) end
  end
  if not fresh then return pos end
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
    local rec = rec_encode({r = ra, p = pos, q = now_s, c = items, s = sk, b = blob,
                            g = dk ~= '' and g or nil, d = dk ~= '' and dk or nil,
                            o = origin ~= '' and origin or nil})
    if origin ~= '' then push_origins[origin] = (push_origins[origin] or 0) + 1 end
    local w = #pending_writes
    pending_writes[w + 1], pending_writes[w + 2] = kj(id), rec
    pending[id] = w + 2
  end
  -- fast (see queue_lib.lua): inline, and due when queued
  push_to(g, tenant, elem or id, elem and not later(ra, now_s))
  return pos
end

-- Adds the n jobs whose fields start at ARGV[first], enqueued at now_s
-- (the time as a string). Returns the index after them, and the jobs of
-- mode 5 whose fold state was written instead: bit k for the k-th of the
-- n jobs (from 0, the first 31 only).
local function push_jobs(first, n, now_s)
  -- Id idempotency in one EXISTS of every keyed record when none is
  -- queued (the usual case): then a job is fresh unless this script added
  -- its id already.
  local keys, nk, n_records, a = {}, 0, 0, first
  for _ = 1, n do
    local mode = ARGV[a + 4]
    local fast = mode == '4' or mode == '5'
    if not fast then n_records = n_records + 1 end
    if mode ~= '3' and not fast then
      nk = nk + 1
      keys[nk] = kj(ARGV[a])
    end
    a = a + job_fields(a)
  end
  local none_queued = true
  for _, n_existing in ipairs(call_sliced('EXISTS', nil, keys)) do
    if n_existing > 0 then none_queued = false end
  end
  -- attempts and enqueued at, as every new record has them
  local rec_mid = '\31' .. '0\31' .. now_s .. '\31'
  local pos = n_records > 0 and redis.call('INCRBY', K_SEQ, n_records) - n_records or 0
  a = first
  local written = 0
  for k = 0, n - 1 do
    local mode = ARGV[a + 4]
    if mode == '4' then
      push_to(ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], true)
      a = a + PUSH_NF_FAST
    elseif mode == '5' then
      if fold_written(a, now_s) then
        if k < 31 then written = written + 2 ^ k end
      else
        push_to(ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], true)
      end
      a = a + PUSH_NF_FOLD
    else
      pos = push_record(a, now_s, rec_mid, pos, none_queued)
      a = a + PUSH_NF
    end
  end
  return a, written
end

-- Writes what push_jobs gathered, at `now` (a number): records, list
-- elements, new groups' state and schedule, origin counts. Returns the
-- number of jobs added and of groups made ready (to wake claimers for).
local function push_flush(now)
  call_sliced('MSET', nil, pending_writes)
  for at, blob in pairs(pending_tails) do redis.call('APPEND', pending_writes[at - 1], blob) end
  local woken = push_woken
  for _, g in ipairs(push_order) do
    local p = pushes[g]
    -- a group's list is empty exactly when the group has no state yet
    if call_sliced('RPUSH', kg(g), p)[1] == math.min(#p, SLICE) then
      if p.fast then redis.call('HSET', km(g), 't', p.tenant, 'f', '1')
      else redis.call('HSET', km(g), 't', p.tenant) end
      redis.call('SADD', K_GROUPS, g)
      if schedule(g, p.tenant, now, now) > 0 then woken = woken + 1 end
    elseif not p.fast then
      redis.call('HDEL', km(g), 'f')
    end
  end
  for origin, c in pairs(push_origins) do redis.call('HINCRBY', K_ORIGIN, origin, c) end
  return push_added, woken
end
