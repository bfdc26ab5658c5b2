-- fold_swap.lua: swaps a replay's shadow fold hashes in for one tenant,
-- atomically (redis_replay.c). KEYS[1]: the tenant's fold prefix (routes
-- the call to the tenant's slot; every key below shares its hash tag).
-- ARGV[1] = d, ARGV[2..d+1]: live hashes to delete first; then pairs
-- (shadow hash, live hash): the shadow is renamed over the live one.
-- A shadow already gone (a retried call) is skipped, so a repeat is
-- harmless. O(d + pairs): the server is blocked for the whole tenant.
-- Returns the number of hashes renamed.
local d = tonumber(ARGV[1])
for i = 2, d + 1 do redis.call('DEL', ARGV[i]) end
local renamed = 0
for i = d + 2, #ARGV, 2 do
  if redis.call('EXISTS', ARGV[i]) == 1 then
    redis.call('RENAME', ARGV[i], ARGV[i + 1])
    renamed = renamed + 1
  end
end
return renamed
