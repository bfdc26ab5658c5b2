-- queue_stats.lua: counts one page of groups (SSCAN of the groups set) by
-- (pipeline, component, kind), in items (a job's field 'c', else 1: the
-- events of a fold or map job); the caller sums the pages. ARGV: now,
-- cursor. Returns {next_cursor, key, pending, delayed, in_flight, parked,
-- parked_groups, oldest_pending_at, key, ...}.
local now, cursor = tonumber(ARGV[1]), ARGV[2]
local page = redis.call('SSCAN', K_GROUPS, cursor, 'COUNT', 100)
local rows, order = {}, {}
local function row(k)
  local r = rows[k]
  if not r then
    r = {0, 0, 0, 0, 0, 0}
    rows[k] = r
    order[#order + 1] = k
  end
  return r
end
for _, g in ipairs(page[2]) do
  local m = redis.call('HMGET', km(g), 's', 'n')
  local claimed = m[1] == 'claimed' and tonumber(m[2]) or 0
  for i, e in ipairs(redis.call('LRANGE', kg(g), 0, -1)) do
    local _, rec = elem_get(e)
    local f = rec_decode(rec)
    local r, items = row(f.s), tonumber(f.c)
    if m[1] == 'parked' then
      r[4] = r[4] + items
      if i == 1 then r[5] = r[5] + 1 end
    elseif i <= claimed then
      r[3] = r[3] + items
    elseif tonumber(f.r) > now then
      r[2] = r[2] + items
    else
      r[1] = r[1] + items
      local q = tonumber(f.q)
      if r[6] == 0 or q < r[6] then r[6] = q end
    end
  end
end
local out = {page[1]}
for _, k in ipairs(order) do
  out[#out + 1] = k
  for _, v in ipairs(rows[k]) do out[#out + 1] = v end
end
return out
