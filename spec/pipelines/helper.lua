-- Helpers for pipeline specs run without the engine: load one pipeline's
-- modules the way the engine resolves them (pipeline folder first, then the
-- engine library), read fixtures, and fold events in memory.
--
--   local h = require("spec.pipelines.helper")
--   local otlp = h.use("trace_processing")("utils.otlp")
local cjson = require("cjson")

local M = {}

local ROOT = (debug.getinfo(1, "S").source:match("^@(.*)spec/pipelines/helper%.lua$") or "./")
M.ROOT = ROOT

local LOCAL_PREFIXES = { "commands.", "projections.", "reactors.", "schemas.", "utils.", "config." }
local base_path = package.path

-- use(pipeline) -> a require function resolving in pipelines/<pipeline>/ first.
-- Pipeline-local modules of the previously used pipeline are forgotten
-- (several pipelines have e.g. schemas.events).
function M.use(pipeline)
  package.loaded.pipeline = nil
  for name in pairs(package.loaded) do
    for _, prefix in ipairs(LOCAL_PREFIXES) do
      if name:sub(1, #prefix) == prefix then package.loaded[name] = nil end
    end
  end
  package.path = ROOT .. "pipelines/" .. pipeline .. "/?.lua;"
    .. ROOT .. "lua/?.lua;" .. ROOT .. "lua/?/init.lua;" .. base_path
  return require
end

-- The decoded JSON of spec/pipelines/fixtures/<name>.
function M.fixture(name)
  local f = assert(io.open(ROOT .. "spec/pipelines/fixtures/" .. name, "rb"))
  local text = f:read("*a")
  f:close()
  return cjson.decode(text)
end

-- A value as stored by the engine: encoded to JSON and decoded back.
function M.roundtrip(v)
  return cjson.decode(cjson.encode(v))
end

-- Events as a fold sees them, one per {type, data, occurred_at?} given.
function M.events(tenant_id, aggregate_id, specs)
  local out = {}
  for i, s in ipairs(specs) do
    out[i] = {
      id = aggregate_id .. "-" .. i, tenant_id = tenant_id, aggregate_type = "test",
      aggregate_id = aggregate_id, seq = i, type = s.type, version = s.version or "v1",
      occurred_at = s.occurred_at, created_at = s.created_at or s.occurred_at,
      idempotency_key = s.idempotency_key, data = M.roundtrip(s.data or {}), metadata = {},
    }
  end
  return out
end

-- Fold events (in the given order) with a fold definition, storing and
-- reloading the state through JSON after every event like the engine may.
function M.fold(def, events)
  local state = M.roundtrip(def.init())
  for _, ev in ipairs(events) do
    state = M.roundtrip(def.apply(state, ev))
  end
  return state
end

-- A fold state without its bookkeeping (fields starting with "_").
function M.public(state)
  local out = {}
  for k, v in pairs(state) do
    if k:sub(1, 1) ~= "_" then out[k] = v end
  end
  return out
end

-- A copy of list in a deterministic pseudo-random order (seeded LCG).
function M.shuffle(list, seed)
  local out, x = {}, seed
  for i, v in ipairs(list) do out[i] = v end
  for i = #out, 2, -1 do
    x = (x * 1103515245 + 12345) % 2147483648
    local j = x % i + 1
    out[i], out[j] = out[j], out[i]
  end
  return out
end

return M
