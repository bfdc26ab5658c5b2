-- fold_put.lua: writes a fold state and its last applied seq together in
-- one hash, unless the stored seq is newer (a fenced-off worker must not
-- roll a fold back). KEYS[1]: the fold hash. ARGV: state, last_seq,
-- updated_at. Returns 1 written, 0 kept the newer state.
local cur = tonumber(redis.call('HGET', KEYS[1], 'seq'))
local seq = tonumber(ARGV[2])
if cur and cur > seq then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'seq', ARGV[2], 'at', ARGV[3])
return 1
