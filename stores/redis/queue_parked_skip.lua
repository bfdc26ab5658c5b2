-- queue_parked_skip.lua: records the head job of a parked group in the dead
-- letters (a capped list of JSON records with its error), then drops it, or
-- only its failed item when it holds several (its record 'k', written by
-- queue_fail, replaces it), and unparks the group. ARGV: group, now.
-- Returns 0, or 1 when not parked.
local g, now = ARGV[1], tonumber(ARGV[2])
if redis.call('HGET', km(g), 's') ~= 'parked' then return 1 end
local head = redis.call('LINDEX', kg(g), 0)
if head then
  local f = redis.call('HMGET', kj(head), 'b', 'a', 'e', 'p', 'c')
  redis.call('RPUSH', K_DEAD, cjson.encode({id = head, group = g, blob = f[1],
    attempts = tonumber(f[2] or 0), error = f[3] or '', position = tonumber(f[4]),
    skipped_at = now}))
  redis.call('LTRIM', K_DEAD, -1000, -1)
  local rest = redis.call('HGET', kj(head), 'k')
  if rest then
    -- one item fewer (field 'c', see queue_enqueue.lua)
    local items = tonumber(f[5] or 1) - 1
    redis.call('HSET', kj(head), 'b', rest, 'a', 0, 'r', now, 'c', items)
    redis.call('HDEL', kj(head), 'k', 'e')
  else
    pop_jobs(g, 1)
  end
end
redis.call('ZREM', K_PARKED, g)
redis.call('HDEL', km(g), 'pa')
if schedule(g, redis.call('HGET', km(g), 't'), now, now) == 1 then wake(1) end
return 0
