-- queue_parked_retry.lua: unparks a group; its head runs again now with
-- attempts reset. ARGV: group, now. Returns 0, or 1 when not parked.
local g, now = ARGV[1], tonumber(ARGV[2])
if redis.call('HGET', km(g), 's') ~= 'parked' then return 1 end
local head = redis.call('LINDEX', kg(g), 0)
if head then
  local _, rec = elem_get(head)
  local t = rec_decode(rec)
  t.a, t.r = 0, ARGV[2]
  elem_put(g, 0, head, t)
end
redis.call('ZREM', K_PARKED, g)
redis.call('HDEL', km(g), 'pa')
if schedule(g, redis.call('HGET', km(g), 't'), now, now) == 1 then wake(1) end
return 0
