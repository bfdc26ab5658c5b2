-- queue_complete.lua: completes claims: per claim, removes its first n_done
-- jobs and releases the group. Several claims in one call save a round
-- trip and a script call each (a worker acknowledges at once the batches
-- one ClickHouse flush made durable).
-- ARGV: now, then per claim: group, token, n_done. Returns per claim 0, or
-- -1 (that claim unchanged) when its token is stale.
local now = tonumber(ARGV[1])
local out, woken = {}, 0
for i = 2, #ARGV, 3 do
  local g, tok, n_done = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local m = redis.call('HMGET', km(g), 's', 'tok', 'lu', 'n', 'x', 't')
  if m[1] ~= 'claimed' or m[2] ~= tok or tonumber(m[3]) < now then
    out[#out + 1] = -1
  else
    pop_jobs(g, math.min(n_done, tonumber(m[4])), m[5])
    if release(g, now, m[6]) == 1 then woken = woken + 1 end
    out[#out + 1] = 0
  end
end
wake(woken)
return out
