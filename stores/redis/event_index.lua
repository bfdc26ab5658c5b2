-- event_index.lua: assigns seqs to the events of one aggregate and dedupes
-- them, for an event log that cannot do it itself (ClickHouse; see
-- redis_event_index.c). KEYS[1] is the queue's hash tag "{name}"; the
-- marker of an event log is {name}:evidx:<scope>, the hash of one of its
-- aggregates {name}:ev:<scope>:<epoch>:<aggregate>, fields '#' = last seq,
-- 'i'..id = "seq:created_at:" (':=' when the event's idempotency key is its
-- id), 'k'..key = seq (other keys). ARGV: scope, epoch, aggregate, now, then
-- id, key per event in order. Returns {0} when the marker does not hold
-- `epoch` (the index is not to be trusted: nothing changed), else {1, outcome, seq, created_at, ...} per event: 1 new (seq
-- assigned, created_at = now), 2 retry (an event with that id: its seq and
-- created_at), 3 duplicate (another event has that idempotency key).
local P, scope, epoch = KEYS[1], ARGV[1], ARGV[2]
if redis.call('GET', P .. ':evidx:' .. scope) ~= epoch then return {0} end
local h, now = P .. ':ev:' .. scope .. ':' .. epoch .. ':' .. ARGV[3], ARGV[4]
local last = tonumber(redis.call('HGET', h, '#') or '0')
local out = {1}
for i = 5, #ARGV, 2 do
  local id, key = ARGV[i], ARGV[i + 1]
  local v = redis.call('HGET', h, 'i' .. id)
  if v then
    local seq, at = v:match('^(%d+):(%d+):')
    out[#out + 1], out[#out + 2], out[#out + 3] = 2, tonumber(seq), tonumber(at)
  else
    local dup = redis.call('HEXISTS', h, 'k' .. key) == 1
    if not dup and key ~= id then
      local w = redis.call('HGET', h, 'i' .. key)
      dup = w ~= false and w:sub(-2) == ':='
    end
    if dup then
      out[#out + 1], out[#out + 2], out[#out + 3] = 3, 0, 0
    else
      last = last + 1
      redis.call('HSET', h, 'i' .. id, last .. ':' .. now .. (key == id and ':=' or ':'))
      if key ~= id then redis.call('HSET', h, 'k' .. key, last) end
      out[#out + 1], out[#out + 2], out[#out + 3] = 1, last, tonumber(now)
    end
  end
end
redis.call('HSET', h, '#', last)
return out
