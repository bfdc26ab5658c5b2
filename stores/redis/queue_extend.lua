-- queue_extend.lua: heartbeat of a claim. ARGV: group, token, now, lease_ms.
-- Returns the new lease_until, or -1 when the token is stale.
local g, tok, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
if not token_live(g, tok, now) then return -1 end
local lu = now + tonumber(ARGV[4])
redis.call('HSET', km(g), 'lu', lu)
redis.call('ZADD', K_LEASES, lu, g)
return lu
