-- queue_complete.lua: removes the first n_done jobs of a claim and releases
-- the group. ARGV: group, token, n_done, now. Returns 0, or -1 (no change)
-- when the token is stale.
local g, tok, n_done, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local m = redis.call('HMGET', km(g), 's', 'tok', 'lu', 'n', 'x', 't')
if m[1] ~= 'claimed' or m[2] ~= tok or tonumber(m[3]) < now then return -1 end
pop_jobs(g, math.min(n_done, tonumber(m[4])), m[5])
if release(g, now, m[6]) == 1 then wake(1) end
return 0
