-- queue_pause_set.lua: the kill switch. A pause is one field of the pauses
-- hash, pipeline\31component\31tenant ('' component = the whole pipeline,
-- '' tenant = every tenant) -> mode\31paused_at; claims hold the groups it
-- covers (queue_claim.lua).
-- ARGV: pipeline, component, tenant, mode, now, cursor.
-- mode > 0 pauses that scope (replacing the mode of the same scope, keeping
-- its paused_at). mode 0 resumes: the first call (cursor '') deletes every
-- pause of the pipeline within the scope ('' component or tenant = any);
-- then each call walks one page (SSCAN from cursor, '' = 0) of the
-- pipeline's held groups and places each that no pause covers any more
-- back in its tenant's ready zset, ready since its head's run_at (ahead of
-- groups that became ready later). The caller repeats with the returned
-- cursor until it is '0': a resume costs O(held groups of the pipeline),
-- in pages that never block Redis for long.
-- Returns {status, cursor}: status 0, or 1 when a resume found no pause.
local pipeline, component, tenant = ARGV[1], ARGV[2], ARGV[3]
local mode, now, cursor = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]

if mode > 0 then
  local f = pipeline .. '\31' .. component .. '\31' .. tenant
  local old = redis.call('HGET', K_PAUSES, f)
  local at = old and old:match('\31(%-?%d+)$') or now
  redis.call('HSET', K_PAUSES, f, mode .. '\31' .. at)
  return {0, '0'}
end

local removed = 0
if cursor == '' then
  for _, f in ipairs(redis.call('HKEYS', K_PAUSES)) do
    local p, c, t = f:match('^([^\31]*)\31([^\31]*)\31(.*)$')
    if p == pipeline and (component == '' or c == component) and (tenant == '' or t == tenant) then
      redis.call('HDEL', K_PAUSES, f)
      removed = removed + 1
    end
  end
  cursor = '0'
end

local ready = 0
local page = redis.call('SSCAN', kheld(pipeline), cursor, 'COUNT', 500)
for _, g in ipairs(page[2]) do
  local t, p, c = group_scope(g)
  if not paused(t, p, c) then
    redis.call('SREM', kheld(pipeline), g)
    if redis.call('HGET', km(g), 's') == 'held' and
       schedule(g, redis.call('HGET', km(g), 't'), now, 0) == 1 then
      ready = ready + 1
    end
  end
end
wake(ready)
if removed == 0 and ARGV[6] == '' then return {1, page[1]} end
return {0, page[1]}
