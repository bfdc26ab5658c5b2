-- queue_complete.lua: removes the first n_done jobs of a claim and releases
-- the group. ARGV: group, token, n_done, now. Returns 0, or -1 (no change)
-- when the token is stale.
local g, tok, n_done, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if not token_live(g, tok, now) then return -1 end
local m = redis.call('HMGET', km(g), 'n', 'x')
pop_jobs(g, math.min(n_done, tonumber(m[1])), m[2] == '1')
if release(g, now) == 1 then wake(1) end
return 0
