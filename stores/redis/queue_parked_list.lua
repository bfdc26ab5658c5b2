-- queue_parked_list.lua: the parked groups, optionally of one tenant.
-- ARGV: tenant ('' = all). Returns per group: group, tenant, parked_at,
-- jobs_waiting, head id, head blob, head run_at, attempts, position, error.
local want = ARGV[1]
local out = {}
local parked = redis.call('ZRANGE', K_PARKED, 0, -1, 'WITHSCORES')
for i = 1, #parked, 2 do
  local g = parked[i]
  local tenant = redis.call('HGET', km(g), 't')
  local head = redis.call('LINDEX', kg(g), 0)
  if head and (want == '' or want == tenant) then
    local id, rec = elem_get(head)
    local t = rec_decode(rec)
    local rest = {g, tenant, tonumber(parked[i + 1]), redis.call('LLEN', kg(g)),
                  id, t.b, tonumber(t.r), tonumber(t.a), tonumber(t.p), t.e or false}
    for _, v in ipairs(rest) do out[#out + 1] = v end
  end
end
return out
