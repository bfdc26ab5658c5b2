-- testing.lua: the busted harness for pipeline authors. It drives the real
-- C core (the esengine_core Lua module, build/esengine_core.so) on memory
-- backends with a fixed clock, so a spec sends commands, drains the queues
-- synchronously and reads what the engine stored:
--
--   local testing = require("esengine.testing")
--   local eng = testing.new{ pipelines = "pipelines", only = "orders", now = 1700000000000 }
--   assert(eng:send("orders", "place_order", { order_id = "o1", amount = 5 }, { tenant = "t1" }))
--   eng:drain()
--   assert.same({ count = 1, total = 5 }, eng:state("orders", "order_summary", "o1", "t1"))
--   eng:close()
--
-- Tenant arguments default to the engine's default tenant (opts.tenant,
-- else "test").
local cjson = require("cjson")

local testing = {}

local Engine = {}
Engine.__index = Engine

local function load_core()
  local ok, core = pcall(require, "esengine_core")
  if not ok then
    error("esengine.testing needs the C module esengine_core: build it (cmake --build build) and run busted "
      .. "from the repository root so that cpath ./build/?.so finds it\n" .. tostring(core), 3)
  end
  return core
end

-- testing.new(opts) -> engine. opts: pipelines (dir, default "pipelines"),
-- only (load just this pipeline folder), now (clock start in ms, default
-- 1700000000000), tenant (default tenant, default "test"),
-- inline_projections (default true; false runs every fold and map as a
-- queued job, as a busy or paused group's are). Raises
-- "file:line: message" when a pipeline fails to load.
function testing.new(opts)
  opts = opts or {}
  local core = load_core()
  local handle, err = core.open(opts.pipelines or "pipelines", opts.only, opts.now or 1700000000000,
    opts.inline_projections)
  if not handle then
    error(tostring(err), 2)
  end
  return setmetatable({ handle = handle, tenant = opts.tenant or "test" }, Engine)
end

-- eng:send(pipeline, command, payload, opts?) -> job_id, or nil and
-- { message, code, errors = {{path, message}} }. payload is a table (sent
-- as JSON) or a JSON string; opts: tenant, job_id (deterministic id).
function Engine:send(pipeline, command, payload, opts)
  opts = opts or {}
  local payload_json = type(payload) == "string" and payload or cjson.encode(payload == nil and {} or payload)
  local job_id, message, errors_json, code = self.handle:send(opts.tenant or self.tenant, pipeline, command,
    payload_json, opts.job_id)
  if job_id then
    return job_id
  end
  return nil, { message = message, code = code, errors = errors_json and cjson.decode(errors_json) or {} }
end

-- eng:send_many(pipeline, command, payloads, opts?) -> {job_id, ...}, or
-- nil and { message, code, errors, index }: the payloads (tables or JSON
-- strings) validated, then enqueued together, all or none; index is the
-- position of the payload that failed validation. opts: tenant.
function Engine:send_many(pipeline, command, payloads, opts)
  opts = opts or {}
  local jsons = {}
  for i, payload in ipairs(payloads) do
    jsons[i] = type(payload) == "string" and payload or cjson.encode(payload)
  end
  local ids, message, errors_json, code, index = self.handle:send_many(opts.tenant or self.tenant,
    pipeline, command, jsons)
  if ids then
    return ids
  end
  return nil, { message = message, code = code, index = index,
    errors = errors_json and cjson.decode(errors_json) or {} }
end

-- eng:drain() -> number of jobs run: runs every ready job (commands, folds,
-- maps, reactors) until none is ready at the current clock.
function Engine:drain()
  local n, err = self.handle:drain()
  if not n then
    error("drain failed: " .. tostring(err), 2)
  end
  return n
end

-- eng:advance(ms): moves the fixed clock forward (delayed reactor jobs and
-- retries become ready; call drain() to run them).
function Engine:advance(ms)
  self.handle:advance(ms)
end

-- eng:now() -> the engine clock in ms.
function Engine:now()
  return self.handle:now()
end

-- eng:state(pipeline, fold, key, tenant?) -> decoded state and its last
-- applied seq, or nil when the fold has no state for key. Raises on an
-- unknown pipeline or fold.
function Engine:state(pipeline, fold, key, tenant)
  local state_json, last_seq = self.handle:state(tenant or self.tenant, pipeline, fold, key)
  if state_json == nil then
    if last_seq ~= nil then
      error(tostring(last_seq), 2)
    end
    return nil
  end
  return cjson.decode(state_json), last_seq
end

local function decode_all(list)
  local out = {}
  for i, s in ipairs(list) do
    out[i] = cjson.decode(s)
  end
  return out
end

-- eng:records(pipeline, map, tenant?) -> list of decoded map records,
-- oldest first.
function Engine:records(pipeline, map, tenant)
  local list, err = self.handle:records(tenant or self.tenant, pipeline, map)
  if not list then
    error(tostring(err), 2)
  end
  return decode_all(list)
end

-- eng:events(aggregate_type, aggregate_id, tenant?) -> list of decoded
-- events in seq order.
function Engine:events(aggregate_type, aggregate_id, tenant)
  local list, err = self.handle:events(tenant or self.tenant, aggregate_type, aggregate_id)
  if not list then
    error(tostring(err), 2)
  end
  return decode_all(list)
end

-- eng:status() -> list of { pipeline, component, kind, pending, delayed,
-- in_flight, parked, parked_groups } per queue.
function Engine:status()
  local json, err = self.handle:status_json()
  if not json then
    error(tostring(err), 2)
  end
  return cjson.decode(json)
end

-- eng:close(): frees the engine (also done when it is collected).
function Engine:close()
  self.handle:close()
end

return testing
