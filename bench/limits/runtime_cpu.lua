-- runtime_cpu.lua: CPU time per call of the runtime's hot entry points on
-- the embedded benchmark's pipeline (bench/embedded/pipelines), from plain
-- luajit (no C core: esengine.core_fallback stands in, so core.arm costs
-- nothing here): rt.prepare_command and rt.handle_command per command, and
-- rt.run_fold and rt.run_map per event in batches of 100 event rows
-- (as engine/lua_host_run.c pushes them). Pipeline code runs with the
-- JIT off as in the engine (esengine.sandbox). The inputs are a pool of
-- 2,000 payloads and 20 batches, cycled, so that the live heap stays small
-- as in the engine (a large one would make every GC cycle cost more). Each
-- round times every phase with os.clock; the median over the rounds is
-- printed.
-- Usage, from the repository root:
--   luajit bench/limits/runtime_cpu.lua [CALLS] [ROUNDS]
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
local N = tonumber(arg[1]) or 100000
local ROUNDS = tonumber(arg[2]) or 5
local BATCH = 100

local rt = require("esengine.runtime")
local gen = rt.load("bench/embedded/pipelines")

local POOL = 2000
local payloads = {}
for i = 1, POOL do
  payloads[i] = string.format('{"id":"bench-%d","amount":%d,"note":"benchmark event payload %d"}',
    i % 2000, i % 100, i)
end

-- Events as the C core hands them over: rows in rt.EVENT_FIELDS order, or
-- named tables for a runtime from before rows (to time older commits).
local function as_passed(ev)
  if not rt.EVENT_FIELDS then
    return ev
  end
  local row = {}
  for i, field in ipairs(rt.EVENT_FIELDS) do
    row[i] = ev[field]
  end
  return row
end

local function event_batch(from)
  local list = {}
  for i = 1, BATCH do
    local seq = from + i
    list[i] = as_passed({
      id = "01J" .. seq, tenant_id = "bench-tenant", aggregate_type = "counter",
      aggregate_id = "bench-" .. seq % 2000, seq = seq, type = "bench.added", version = "v1",
      occurred_at = 1700000000000, created_at = 1700000000000,
      data_json = '{"amount":' .. (seq % 100) .. ',"note":"benchmark event payload ' .. seq .. '"}',
      metadata_json = "{}",
    })
  end
  return list
end

local batches = {}
for b = 1, POOL / BATCH do
  batches[b] = event_batch((b - 1) * BATCH)
end

-- Each phase returns CPU µs per call (or per event).
local phases = {}
local order = { "prepare_command", "handle_command", "run_fold", "run_map" }
local command_jsons = {}

phases.prepare_command = function()
  local started = os.clock()
  for i = 1, N do
    local k = (i - 1) % POOL + 1
    local ok, _, command_json = rt.prepare_command(gen, "bench-tenant", "bench", "add", payloads[k])
    if not ok then error("prepare_command failed: " .. tostring(command_json)) end
    command_jsons[k] = command_json
  end
  return (os.clock() - started) * 1e6 / N
end

phases.handle_command = function()
  local started = os.clock()
  for i = 1, N do
    local events = rt.handle_command(gen, command_jsons[(i - 1) % POOL + 1])
    if #events ~= 1 then error("handle_command: expected one event") end
  end
  return (os.clock() - started) * 1e6 / N
end

phases.run_fold = function()
  local started = os.clock()
  local state
  for b = 1, N / BATCH do
    local n, _, err
    state, n, _, err = rt.run_fold(gen, "bench", "totals", state, batches[(b - 1) % #batches + 1])
    if err or n ~= BATCH then error("run_fold: " .. tostring(err)) end
  end
  return (os.clock() - started) * 1e6 / N
end

phases.run_map = function()
  local started = os.clock()
  for b = 1, N / BATCH do
    local _, n, err = rt.run_map(gen, "bench", "rows", batches[(b - 1) % #batches + 1])
    if err or n ~= BATCH then error("run_map: " .. tostring(err)) end
  end
  return (os.clock() - started) * 1e6 / N
end

local samples = {}
for _, name in ipairs(order) do samples[name] = {} end
for _ = 1, ROUNDS do
  for _, name in ipairs(order) do
    collectgarbage()
    local list = samples[name]
    list[#list + 1] = phases[name]()
  end
end

local function median(list)
  table.sort(list)
  local n = #list
  return n % 2 == 1 and list[(n + 1) / 2] or (list[n / 2] + list[n / 2 + 1]) / 2
end

for _, name in ipairs(order) do
  print(string.format("%-16s %7.3f us CPU per %s (median of %d rounds of %d)", name,
    median(samples[name]), name:match("command") and "command" or "event", ROUNDS, N))
end
