-- event_index.lua: assigns seqs to the events of one aggregate and dedupes
-- them, for an event log that cannot do it itself (ClickHouse; see
-- redis_event_index.c), in memory bounded per aggregate. KEYS[1] is the
-- queue's hash tag "{name}"; the marker of an event log is
-- {name}:evidx:<scope>, the hash of one of its aggregates
-- {name}:ev:<scope>:<epoch>:<aggregate> (small fields only, so Redis keeps
-- it in its compact encoding), fields:
--   '#'  last seq assigned
--   'lo' lowest seq still in the window (1 when nothing was forgotten)
--   'i'..id  "seq:created_at:" (':=' when the event's key is its id)
--   'k'..key seq (keys other than the id)
--   's'..seq what to forget when seq leaves the window: '+', then "=<id>"
--            when the key is the id, else "<#id>:<id><key>". Entries
--            written before the filter took every new event lack the '+'
--            (their ids go into the filter when forgotten): '!', the bloom
--            digits of the id (12 hex digits, see 'assign'), then the rest,
--            the key's digits before "<#id>:" when the key differs (the
--            oldest lack the '!' and the digits: they are hashed here)
--   'bs' big slices in use (absent: none yet; -1: never again, see below)
--   'bn' ids and keys added to the newest big slice
--   'bl' '#' as this script last wrote it with big slices in use
-- and the string {name}:evb:<scope>:<epoch>:<aggregate>, a bloom filter
-- (BLOOM_BITS bits) of the ids and keys of every new event. The window
-- holds the last WINDOW events. An event not in the window is new when
-- the bloom filter does not know its id or key; otherwise the index cannot
-- decide and the caller asks the event log (a retry of events whose rows
-- died unwritten is then given the seqs again: see 'record').
-- Big slices: 4096 bits hold ~100 ids before false positives send most
-- appends to the event log, so the call that takes an aggregate past
-- SMALL_SEQS events copies its filter to {name}:evb0:... (what it knew
-- before) and puts its own and later ids and keys into big slices
-- {name}:evb<j>:..., j = 1..bs, of BIG_BITS bits and BIG_CAP entries each
-- (6 positions of 16 bits: the 12 bytes of SHA-1 after the 12 hex digits,
-- sent by the client in calls on such aggregates); an event is then known
-- when evb0 or any big slice may know it. evb keeps taking every id (the
-- superset an engine without slices checks). When '#' is not 'bl' some
-- such engine appended since: its ids are in evb only, so the aggregate
-- goes back to evb for good ('bs' -1). Past BIG_MAX slices the last one
-- fills up and the event log decides more and more appends.
-- ARGV: scope, epoch, aggregate, now, mode, delta, then per mode
-- (delta: the bloom bits of every id and key of the call, BLOOM_BITS / 8
-- bytes, set by the client; merged into the filter with BITOP when the
-- call indexes new events: Lua 5.1 has no bit operations, and setting
-- the bits here cost ~1.5 us per event; in a big call, the delta of the
-- big slices' bits follows, BIG_BITS / 8 bytes, and every hid and hkey
-- has the 12 bytes of big positions after its hex digits. A call that
-- needs those and lacks them gets {5}, nothing changed: the client sends
-- it again, big):
--  'assign': id, key, hid, hkey per event in order (hid, hkey: the first
--    12 hex digits of the SHA-1 of id and of key, their bloom positions,
--    hashed by the client: redis.sha1hex cost a few microseconds a call;
--    key and hkey are '' when the key is the id, the usual case: Redis
--    makes a Lua string of every argument). Returns {1, outcome, seq,
--    created_at, ...} per event: 1 new (seq assigned, created_at = now),
--    2 retry (an event with that id: its seq and created_at), 3 duplicate
--    (another event has that idempotency key); {4, first, now} when every
--    event is new (seqs first, first + 1, ... in order: 300 integers less
--    to reply for 100 events); or {2, last} when some event is undecided
--    (nothing changed).
--  'assign-ids': as 'assign' for events whose keys are their ids, no id
--    twice in the call (the client checked): id, hid per event. Half the
--    arguments, and no event of the call to check against the others.
--  'record': last (as {2, last} gave it), base (the log's last seq), then
--    id, key, hid, hkey (as for 'assign'), seq (0: not new), created_at per
--    event: indexes the new events the caller decided; seqs above base not
--    among them were never stored and are forgotten. Returns {1}, or {3}
--    when the index changed since `last` (nothing changed: decide again).
-- Any returns {0} when the marker does not hold `epoch` (the index is not
-- to be trusted: nothing changed), and {5} as said above.
local P, scope, epoch = KEYS[1], ARGV[1], ARGV[2]
if redis.call('GET', P .. ':evidx:' .. scope) ~= epoch then return {0} end
local h, now, mode = P .. ':ev:' .. scope .. ':' .. epoch .. ':' .. ARGV[3], ARGV[4], ARGV[5]
local hb = P .. ':evb:' .. scope .. ':' .. epoch .. ':' .. ARGV[3]
local WINDOW, BLOOM_BITS = 16, 4096
local SMALL_SEQS, BIG_BITS, BIG_CAP, BIG_MAX = 100, 65536, 2000, 16

-- The name of big slice j (0: the copy of the small filter).
local function slice_key(j)
  return P .. ':evb' .. j .. ':' .. scope .. ':' .. epoch .. ':' .. ARGV[3]
end

local m = redis.call('HMGET', h, '#', 'lo', 'bs', 'bn', 'bl')
local last, lo = tonumber(m[1] or '0'), tonumber(m[2] or '1')
local bs, bn = tonumber(m[3] or '0'), tonumber(m[4] or '0')
if bs > 0 and m[5] ~= m[1] then
  bs = -1
  redis.call('HSET', h, 'bs', -1)
end
local big = #ARGV[6] == (BLOOM_BITS + BIG_BITS) / 8
-- a call that may take the aggregate past SMALL_SEQS starts big slices
local events_in_call = mode == 'record' and (#ARGV - 8) / 6
  or (#ARGV - 6) / (mode == 'assign' and 4 or 2)
if not big and (bs > 0 or (bs == 0 and last + events_in_call > SMALL_SEQS)) then return {5} end
local delta = big and ARGV[6]:sub(1, BLOOM_BITS / 8) or ARGV[6]

-- The bloom filter as a table of bytes, read on first use; checks read
-- evb0 instead once big slices are in use (bloom_has).
local bloom, bloom_dirty, small
local function bytes_of(key)
  local b = redis.call('GET', key)
  -- a new filter: its zero bytes in one C call rather than a Lua loop
  return {string.byte(b or string.rep('\0', BLOOM_BITS / 8), 1, -1)}
end
local function bloom_load()
  if not bloom then bloom = bytes_of(hb) end
end

-- The 4 bit positions of s are its SHA-1's first 4 groups of 3 hex digits
-- (12 bits each: BLOOM_BITS is 4096); bit p is bit p % 8 of byte p // 8
-- (1-based: p // 8 + 1). Plain arithmetic and table lookups rather than
-- substrings, tonumber or the bit library: Redis's Lua 5.1 interns every
-- string it creates (hashing its bytes) and pays a C call per bit.* op,
-- which made the filter most of this script's cost.
local HEX = {}
for c = 48, 57 do HEX[c] = c - 48 end
for c = 97, 102 do HEX[c] = c - 87 end
local POW2 = {[0] = 1, 2, 4, 8, 16, 32, 64, 128}

-- The 4 bit positions of s; hex: the first 12 hex digits of its SHA-1
-- when the caller has them (nil: hashed here).
local function bloom_pos(s, hex)
  local a1, a2, a3, b1, b2, b3, c1, c2, c3, d1, d2, d3 = (hex or redis.sha1hex(s)):byte(1, 12)
  return HEX[a1] * 256 + HEX[a2] * 16 + HEX[a3], HEX[b1] * 256 + HEX[b2] * 16 + HEX[b3],
         HEX[c1] * 256 + HEX[c2] * 16 + HEX[c3], HEX[d1] * 256 + HEX[d2] * 16 + HEX[d3]
end

-- True when bit p of the byte table t is set.
local function bit_of(t, p)
  local r = p % 8
  local m = POW2[r]
  return t[(p - r) / 8 + 1] % (m + m) >= m
end

-- Sets bit p.
local function bloom_set(p)
  local r = p % 8
  local i, m = (p - r) / 8 + 1, POW2[r]
  local b = bloom[i]
  if b % (m + m) < m then bloom[i] = b + m end
end

-- The big slices 1..bs as strings (a missing one: ''), read on first use.
local slices
local function slices_load()
  if slices then return end
  slices = {}
  for j = 1, bs do slices[j] = redis.call('GET', slice_key(j)) or '' end
end

-- True when bit p of the string s is set (bit p % 8 of byte p // 8).
local function string_bit(s, p)
  local r = p % 8
  local m = POW2[r]
  return (s:byte((p - r) / 8 + 1) or 0) % (m + m) >= m
end

-- True when a big slice may know the string whose digits are hex (hex
-- digits, then the 12 bytes of big positions).
local function big_has(hex)
  slices_load()
  local a1, a2, b1, b2, c1, c2, d1, d2, e1, e2, f1, f2 = hex:byte(13, 24)
  local p1, p2, p3 = a1 * 256 + a2, b1 * 256 + b2, c1 * 256 + c2
  local p4, p5, p6 = d1 * 256 + d2, e1 * 256 + e2, f1 * 256 + f2
  for j = 1, bs do
    local sl = slices[j]
    if string_bit(sl, p1) and string_bit(sl, p2) and string_bit(sl, p3) and string_bit(sl, p4)
        and string_bit(sl, p5) and string_bit(sl, p6) then
      return true
    end
  end
  return false
end

local function bloom_has(s, hex)
  local t
  if bs > 0 then
    small = small or bytes_of(slice_key(0))
    t = small
  else
    bloom_load()
    t = bloom
  end
  local p1, p2, p3, p4 = bloom_pos(s, hex)
  if bit_of(t, p1) and bit_of(t, p2) and bit_of(t, p3) and bit_of(t, p4) then return true end
  return bs > 0 and big_has(hex)
end

-- Adds s (an entry older than the filter's taking every new event) to
-- evb, which only engines without big slices check: with slices in use,
-- the aggregate goes back to evb ('bs' -1).
local function bloom_add(s, hex)
  bloom_load()
  if bs > 0 then bs = -1 end
  local p1, p2, p3, p4 = bloom_pos(s, hex)
  bloom_set(p1)
  bloom_set(p2)
  bloom_set(p3)
  bloom_set(p4)
  bloom_dirty = true
end

-- HMGET of h's fields `names` (a list of any length: Lua unpacks at most
-- ~8000 values, so a call of thousands of events asks in slices).
local function hmget(names)
  local v, SLICE = {}, 4000
  for from = 1, #names, SLICE do
    local to = math.min(from + SLICE - 1, #names)
    local part = redis.call('HMGET', h, unpack(names, from, to))
    for j = 1, #part do v[from + j - 1] = part[j] end
  end
  return v
end

-- The window as it was before this call, for every event of `ARGV` from
-- index `from` on, `stride` arguments per event (id first, then its key
-- when `keyed`, else the key is the id): an HMGET
-- of every field the events name ('i'..id, 'k'..key, and 'i'..key for an
-- explicit key: an event whose key is its id holds it as 'i'). Returns a
-- function giving the answer for the event at ARGV index i: 2, seq,
-- created_at (retry), 3 (duplicate), or nil (not in the window); nil when
-- the aggregate has no window yet.
local function window_lookup(from, stride, keyed)
  if not m[1] then return nil end
  local fields, at, n = {}, {}, 0
  for i = from, #ARGV, stride do
    local id, key = ARGV[i], keyed and ARGV[i + 1] or ''
    if key == '' then key = id end
    at[i] = n + 1
    fields[n + 1], fields[n + 2] = 'i' .. id, 'k' .. key
    n = n + 2
    if key ~= id then
      fields[n + 1] = 'i' .. key
      n = n + 1
    end
  end
  local v = hmget(fields)
  return function(i)
    local j = at[i]
    if v[j] then
      local seq, created = v[j]:match('^(%d+):(%d+):')
      return 2, tonumber(seq), tonumber(created)
    end
    if v[j + 1] then return 3 end
    local key = keyed and ARGV[i + 1] or ''
    if key ~= '' and key ~= ARGV[i] and v[j + 2] and v[j + 2]:sub(-2) == ':=' then return 3 end
    return nil
  end
end

-- The decimal string of a seq. Lua 5.1 formats a number with sprintf,
-- ~0.6 us in Redis (most of what indexing an event cost): seqs in a row
-- share the formatting of their tens.
local DIGIT = {[0] = '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'}
local tens, tens_s
local function seq_string(seq)
  local d = seq % 10
  local t = (seq - d) / 10
  if t ~= tens then tens, tens_s = t, t > 0 and tostring(t) or '' end
  return tens_s .. DIGIT[d]
end

-- The window fields of one event, appended to `f` (for one HSET); its id
-- is in the filter already (the call's delta).
local function remember(f, id, key, seq, created)
  local n, s = #f, seq_string(seq)
  f[n + 1], f[n + 2] = 'i' .. id, s .. ':' .. created .. (key == id and ':=' or ':')
  f[n + 3], f[n + 4] = 's' .. s, key == id and '+=' .. id or '+' .. #id .. ':' .. id .. key
  if key ~= id then f[n + 5], f[n + 6] = 'k' .. key, s end
end

-- Drops the window entries of the seqs from..to (an HMGET, one HDEL);
-- with `to_bloom`, the ids and keys of entries not yet in the filter
-- (written before it took every new event) go into it.
local function forget_range(from, to, to_bloom)
  if from > to then return end
  local names = {}
  for seq = from, to do names[#names + 1] = 's' .. seq end
  local v = hmget(names)
  local del = {}
  for j, x in ipairs(names) do
    local e = v[j]
    if e then
      local id, key, hid, hkey
      local known = e:byte(1) == 43 -- '+': in the filter
      if known then
        e = e:sub(2)
      elseif e:byte(1) == 33 then -- '!': the digits kept
        hid = e:sub(2, 13)
        e = e:sub(14)
        if e:byte(1) ~= 61 then -- not '='
          hkey = e:sub(1, 12)
          e = e:sub(13)
        end
      end
      if e:byte(1) == 61 then -- '='
        id = e:sub(2)
        key = id
      else
        local len, rest = e:match('^(%d+):(.*)$')
        id, key = rest:sub(1, tonumber(len)), rest:sub(tonumber(len) + 1)
      end
      del[#del + 1], del[#del + 2], del[#del + 3] = x, 'i' .. id, 'k' .. key
      if to_bloom and not known then
        bloom_add(id, hid)
        if key ~= id then bloom_add(key, hkey) end
      end
    end
  end
  if #del > 0 then redis.call('HDEL', h, unpack(del)) end
end

-- ORs the bits of d into the filter at key (a new filter is d itself:
-- one call rather than three).
local function merge(key, d)
  if not redis.call('SET', key, d, 'NX') then
    local tmp = P .. ':evdelta'
    redis.call('SET', tmp, d)
    redis.call('BITOP', 'OR', key, key, tmp)
    redis.call('DEL', tmp)
  end
end

-- Indexes the n new events of this call (added: how many ids and keys
-- they bring, n being at most WINDOW): the one at position k has its id
-- at ARGV[at[k]] (and its key after it when `keyed`, else it is the id), seq
-- seqs[k] and created_at created[k] (nil: now). The window keeps the last
-- WINDOW seqs: older entries are forgotten and only the newest events are
-- written (the hash never holds much more than the window: it keeps
-- Redis's compact encoding); then '#', 'lo' and the filter are saved, the
-- call's delta merged into it, and its big delta into the newest big slice
-- (the first one started by the call that takes the aggregate past
-- SMALL_SEQS events).
local function record_new(n, added, at, seqs, created, keyed)
  local stored = last -- the hash holds no seq above it
  for k = 1, n do
    if seqs[k] > last then last = seqs[k] end
  end
  local keep = math.max(lo, last - WINDOW + 1)
  forget_range(lo, math.min(keep - 1, stored), true)
  local f = {'#', last, 'lo', keep}
  for k = 1, n do
    if seqs[k] >= keep then
      local i = at[k]
      local id, key = ARGV[i], keyed and ARGV[i + 1] or ''
      remember(f, id, key == '' and id or key, seqs[k], created[k] or now)
    end
  end
  local start = added > 0 and big and bs == 0 and last > SMALL_SEQS
  if start then bs, bn = 1, 0 end
  local into = added > 0 and bs > 0 and bs -- the big slice this call fills
  if into then
    bn = bn + added
    if bn >= BIG_CAP and bs < BIG_MAX then bs, bn = bs + 1, 0 end
  end
  if bs ~= 0 then
    local k = #f
    f[k + 1], f[k + 2], f[k + 3], f[k + 4], f[k + 5], f[k + 6] = 'bs', bs, 'bn', bn, 'bl', last
  end
  redis.call('HSET', h, unpack(f))
  if bloom_dirty then redis.call('SET', hb, string.char(unpack(bloom))) end
  if start then
    -- what the small filter knew before this call, for checks from now on
    local b = redis.call('GET', hb)
    if b then redis.call('SET', slice_key(0), b) end
  end
  if into then merge(slice_key(into), ARGV[6]:sub(BLOOM_BITS / 8 + 1)) end
  if added > 0 then merge(hb, delta) end
end

local out, n, added, at, seqs, created = {1}, 0, 0, {}, {}, {}
if mode == 'assign' or mode == 'assign-ids' then
  -- 'assign-ids': id, hid per event; every key is the id and no id comes
  -- twice in the call (the client checked), so no event of the call can
  -- be another's retry or duplicate
  local stride = mode == 'assign' and 4 or 2
  local keyed = stride == 4
  local window = window_lookup(7, stride, keyed)
  -- undecided: not in the window, and maybe among the forgotten
  if lo > 1 then
    for i = 7, #ARGV, stride do
      local id, key = ARGV[i], keyed and ARGV[i + 1] or ''
      local hid = keyed and ARGV[i + 2] or ARGV[i + 1]
      if not (window and window(i)) and (bloom_has(id, hid) or
          (key ~= '' and key ~= id and bloom_has(key, ARGV[i + 3]))) then
        return {2, last}
      end
    end
  end
  -- every event against the window as it was, and (keyed) this call's
  -- earlier new events (by id, and by key, the id being the key of an
  -- event without one). The answers per event are built from the first
  -- event that is not new; only the last WINDOW new ones are indexed
  -- (record_new keeps no more), at[] and seqs[] being a ring of them.
  local seen_id, seen_key = keyed and {}, keyed and {}
  local first, now_n, k = last + 1, tonumber(now), 1
  out = nil
  if not window and not keyed then
    -- a new aggregate: every event new, in order
    local total = (#ARGV - 6) / 2
    for j = math.max(1, total - WINDOW + 1), total do
      n = n + 1
      at[n], seqs[n] = 5 + 2 * j, first + j - 1
    end
    n = total
  else
    for i = 7, #ARGV, stride do
      local id = ARGV[i]
      local key = keyed and ARGV[i + 1] or ''
      if key == '' then key = id end
      local o, seq, t
      if window then o, seq, t = window(i) end
      if not o and keyed then
        seq = seen_id[id]
        if seq then
          o, t = 2, now_n
        elseif seen_key[key] then
          o = 3
        end
      end
      if o and not out then
        out = {1}
        for j = 1, n do out[3 * j - 1], out[3 * j], out[3 * j + 1] = 1, first + j - 1, now_n end
      end
      if o then
        out[k + 1], out[k + 2], out[k + 3] = o, seq or 0, t or 0
      else
        n = n + 1
        seq = first + n - 1
        local r = (n - 1) % WINDOW + 1
        at[r], seqs[r] = i, seq
        if keyed then
          seen_id[id], seen_key[key] = seq, true
          if key ~= id then added = added + 1 end
        end
        if out then out[k + 1], out[k + 2], out[k + 3] = 1, seq, now_n end
      end
      k = k + 3
    end
  end
  -- every event new: their seqs follow from the first
  if not out then out = {4, first, now_n} end
  added = added + n
  n = math.min(n, WINDOW)
else
  if tonumber(ARGV[7]) ~= last then return {3} end
  local base = tonumber(ARGV[8])
  forget_range(math.max(base + 1, lo), last, false)
  if base + 1 < lo then lo = base + 1 end
  last = base
  for i = 9, #ARGV, 6 do
    local seq = tonumber(ARGV[i + 4])
    if seq > 0 then
      n = n + 1
      at[n], seqs[n], created[n] = i, seq, ARGV[i + 5]
      if ARGV[i + 1] ~= '' and ARGV[i + 1] ~= ARGV[i] then added = added + 1 end
    end
  end
  added = added + n
end
record_new(n, added, at, seqs, created, mode ~= 'assign-ids')
return out
