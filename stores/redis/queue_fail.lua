-- queue_fail.lua: removes the first n_done jobs of a claim, records a failed
-- attempt of the next claimed job (the new head), then parks the group when
-- attempts reach max_attempts, else makes the head due at retry_at; releases
-- the group either way. ARGV: group, token, n_done, error, retry_at,
-- max_attempts, now, skip blob (the failed job's record as a parked skip
-- would leave it: '' for a job of one item). Returns 0 (retry), 2 (parked),
-- or -1 when the token is stale (no change).
local g, tok, n_done = ARGV[1], ARGV[2], tonumber(ARGV[3])
local err, retry_at, max_attempts = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local now, skip = tonumber(ARGV[7]), ARGV[8]
if not token_live(g, tok, now) then return -1 end
local m = redis.call('HMGET', km(g), 'n', 'x')
local claimed = tonumber(m[1])
pop_jobs(g, math.min(n_done, claimed), m[2])
local head = redis.call('LINDEX', kg(g), 0)
if head and n_done < claimed then
  local _, rec = elem_get(head)
  local t = rec_decode(rec)
  local attempts = tonumber(t.a) + 1
  t.a, t.e, t.k = attempts, err, skip ~= '' and skip or nil
  if attempts >= max_attempts then
    elem_put(g, 0, head, t)
    redis.call('ZREM', K_LEASES, g)
    redis.call('HDEL', km(g), 'tok', 'lu', 'n', 'w', 'x')
    redis.call('HSET', km(g), 's', 'parked', 'pa', now)
    redis.call('ZADD', K_PARKED, now, g)
    return 2
  end
  t.r = ARGV[5]
  elem_put(g, 0, head, t)
end
if release(g, now) == 1 then wake(1) end
return 0
