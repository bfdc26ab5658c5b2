-- fold_cpu.lua: CPU cost of running pipeline code with the JIT off (what
-- the handler time limit needs, see engine/lua_host.c) against the same
-- code JIT-compiled, in one run: the runtime folds and maps N events of the
-- embedded benchmark's pipeline (bench/embedded/pipelines) in batches of
-- 100, measured with os.clock (CPU time, so a busy machine skews it less).
-- Usage, from the repository root:
--   luajit bench/limits/fold_cpu.lua [EVENTS] [ROUNDS]
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
local N = tonumber(arg[1]) or 200000
local ROUNDS = tonumber(arg[2]) or 3
local BATCH = 100

local function fresh_runtime(jit_off)
  for name in pairs(package.loaded) do
    if name:match("^esengine") then package.loaded[name] = nil end
  end
  local real_off = jit.off
  if not jit_off then jit.off = function() end end
  local rt = require("esengine.runtime")
  local gen = rt.load("bench/embedded/pipelines")
  jit.off = real_off
  return rt, gen
end

-- A batch of event rows (rt.EVENT_FIELDS), as the C core passes them.
local function events(rt, from)
  local list = {}
  for i = 1, BATCH do
    local seq = from + i
    local ev = {
      id = "e" .. seq, tenant_id = "t", aggregate_type = "counter", aggregate_id = "a",
      seq = seq, type = "bench.added", version = "v1", occurred_at = 0, created_at = 0,
      data_json = '{"amount":' .. (seq % 100) .. ',"note":"benchmark event payload"}',
      metadata_json = "{}",
    }
    local row = {}
    for f, field in ipairs(rt.EVENT_FIELDS) do
      row[f] = ev[field]
    end
    list[i] = row
  end
  return list
end

local function run(jit_off)
  local rt, gen = fresh_runtime(jit_off)
  local batches = {}
  for b = 1, N / BATCH do batches[b] = events(rt, (b - 1) * BATCH) end
  local started = os.clock()
  local state
  for b = 1, #batches do
    state = rt.run_fold(gen, "bench", "totals", state, batches[b])
    rt.run_map(gen, "bench", "rows", batches[b])
  end
  return N / (os.clock() - started)
end

local best = { on = 0, off = 0 }
for _ = 1, ROUNDS do
  best.on = math.max(best.on, run(false))
  best.off = math.max(best.off, run(true))
end
print(string.format("pipeline code JIT-compiled: %8.0f events/s (fold + map, best of %d)", best.on, ROUNDS))
print(string.format("pipeline code JIT off:      %8.0f events/s", best.off))
print(string.format("ratio off/on:               %8.3f", best.off / best.on))
