-- queue_parked_skip.lua: records the head job of a parked group in the dead
-- letters (a capped list of JSON records with its error), then drops it, or
-- only its failed item when it holds several (its record 'k', written by
-- queue_fail, replaces it), and unparks the group. ARGV: group, now.
-- Returns 0, or 1 when not parked.
local g, now = ARGV[1], tonumber(ARGV[2])
if redis.call('HGET', km(g), 's') ~= 'parked' then return 1 end
local head = redis.call('LINDEX', kg(g), 0)
if head then
  local id, rec = elem_get(head)
  local t = rec_decode(rec)
  redis.call('RPUSH', K_DEAD, cjson.encode({id = id, group = g, blob = t.b,
    attempts = tonumber(t.a), error = t.e or '', position = tonumber(t.p),
    skipped_at = now}))
  redis.call('LTRIM', K_DEAD, -1000, -1)
  if t.k then
    -- one item fewer (field c, see queue_lib.lua)
    t.b, t.a, t.r, t.c, t.k, t.e = t.k, 0, ARGV[2], tonumber(t.c) - 1, nil, nil
    elem_put(g, 0, head, t)
  else
    pop_jobs(g, 1)
  end
end
redis.call('ZREM', K_PARKED, g)
redis.call('HDEL', km(g), 'pa')
if schedule(g, redis.call('HGET', km(g), 't'), now, now) == 1 then wake(1) end
return 0
