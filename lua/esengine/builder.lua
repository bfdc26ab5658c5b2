-- builder.lua: es.define_pipeline(), the builder a pipeline.lua chains to
-- declare its name, aggregate type, folds, maps, reactors and commands, and
-- the validation build() runs. The built pipeline is a plain table the
-- runtime reads:
--   { name, aggregate_type, kill_switch,
--     folds    = { name -> { name, init, apply, event_types, accepts, key,
--                            version, store, store_kind, table, options } },
--     maps     = { name -> { name, map, event_types, accepts, store,
--                            store_kind, table, options } },
--     reactors = { name -> { name, fold, handle, options } },
--     commands = { name -> { name, schema, aggregate_id, handle, options } },
--     fold_order, map_order, reactor_order, command_order = { names, in
--     declaration order } }
-- event_types is the declared list (nil: all events); accepts is the same
-- as a set. Every component also carries timeout_ms (its def's own time
-- limit per handler call, or nil for the engine's default).
local schema = require("esengine.schema")
local stores = require("esengine.stores")

local builder = {}

local Builder = { __metatable = "es.pipeline_builder" }
Builder.__index = Builder

-- Every pipeline returned by build(), so the loader can check that
-- pipeline.lua returned one.
local built_pipelines = setmetatable({}, { __mode = "k" })

local NAME_PATTERN = "^[%a_][%w_]*$"

-- "file:line" of the code `level` frames above the caller, or nil (a tail
-- call leaves no frame: `return es.define_pipeline()...:build()`).
local function position(level)
  local info = debug.getinfo(level + 2, "Sl")
  if info and info.currentline and info.currentline > 0 then
    return info.short_src .. ":" .. info.currentline
  end
  return nil
end

-- builder.new() -> an empty builder (es.define_pipeline); remembers where
-- it was called, for build() errors.
function builder.new()
  return setmetatable({ steps = {}, pos = position(1) }, Builder)
end

-- builder.is_pipeline(v) -> true when v was returned by build().
function builder.is_pipeline(v)
  return built_pipelines[v] == true
end

-- Adds a component step, remembering the with_* call's position (so the
-- with_* methods must call this as a statement, not as a tail call).
local function record(self, step)
  step.pos = position(2)
  self.steps[#self.steps + 1] = step
end

-- :with_name(name): the pipeline's unique name (an identifier).
function Builder:with_name(name)
  self.name = name
  return self
end

-- :with_aggregate_type(type): the aggregate type its events belong to.
function Builder:with_aggregate_type(aggregate_type)
  self.aggregate_type = aggregate_type
  return self
end

-- :with_fold_projection(name, def, opts?): def = { init, apply,
-- event_types?, key?, version?, store? }.
function Builder:with_fold_projection(name, def, opts)
  record(self, { kind = "fold", name = name, def = def, opts = opts })
  return self
end

-- :with_map_projection(name, def, opts?): def = { map, event_types, store? }.
function Builder:with_map_projection(name, def, opts)
  record(self, { kind = "map", name = name, def = def, opts = opts })
  return self
end

-- :with_reactor(fold_name, reactor_name, def): def = { handle, options? =
-- { delay?, job_id?, dedup? } }, run after fold_name stored each event.
function Builder:with_reactor(fold_name, name, def)
  record(self, { kind = "reactor", name = name, fold = fold_name, def = def })
  return self
end

-- :with_command(name, def, opts?): def = { schema, aggregate_id, handle }.
function Builder:with_command(name, def, opts)
  record(self, { kind = "command", name = name, def = def, opts = opts })
  return self
end

-- :with_kill_switch(def?): the pipeline's kill switch, the engine's pause
-- (esengine pause / POST /api/pause): def.mode says what a pause of this
-- pipeline does to new commands when the pause does not say: "hold" (the
-- default: accepted and queued) or "reject" (refused with an error naming
-- the pause). Kept as pipeline.kill_switch = { mode = ... }.
function Builder:with_kill_switch(def)
  self.kill_switch = def or {}
  return self
end

-- Validation helpers: each returns nothing on success, or appends a problem.

local function need_function(problems, where, def, field)
  if type(def[field]) ~= "function" then
    problems[#problems + 1] = where .. " is missing " .. field .. " (a function)"
  end
end

local function optional_function(problems, where, def, field)
  if def[field] ~= nil and type(def[field]) ~= "function" then
    problems[#problems + 1] = where .. ": " .. field .. " must be a function, got " .. type(def[field])
  end
end

-- Returns list, set for a valid event_types (nil stays nil when allowed).
local function event_types(problems, where, value, required)
  if value == nil then
    if required then
      problems[#problems + 1] = where .. " is missing event_types (a list of event type strings)"
    end
    return nil, nil
  end
  if type(value) ~= "table" or #value == 0 then
    problems[#problems + 1] = where .. ": event_types must be a non-empty list of strings"
    return nil, nil
  end
  local list, set = {}, {}
  for i, t in ipairs(value) do
    if type(t) ~= "string" or t == "" then
      problems[#problems + 1] = where .. ": event_types[" .. i .. "] must be a non-empty string"
    else
      list[#list + 1] = t
      set[t] = true
    end
  end
  return list, set
end

-- Returns store, kind, table name (a default table named
-- <pipeline>_<component> when def.store is nil).
local function store_of(problems, where, def, role, pipeline_name, name)
  local store = def.store
  if store == nil then
    local base = type(pipeline_name) == "string" and pipeline_name:match(NAME_PATTERN) or "pipeline"
    store = stores.table(base .. "_" .. name)
  end
  local kind, why = stores.kind(store, role)
  if not kind then
    problems[#problems + 1] = where .. ": " .. why
    return nil
  end
  return store, kind, kind == "table" and store.table or nil
end

local function options_of(problems, where, opts)
  if opts ~= nil and type(opts) ~= "table" then
    problems[#problems + 1] = where .. ": options must be a table, got " .. type(opts)
    return {}
  end
  return opts or {}
end

-- def.timeout_ms: the component's own time limit per handler call (ms),
-- overriding the engine's --handler-timeout-ms. Returns it or nil.
local function timeout_of(problems, where, def)
  local t = def.timeout_ms
  if t ~= nil and (type(t) ~= "number" or t <= 0 or t ~= math.floor(t)) then
    problems[#problems + 1] = where .. ": timeout_ms must be a positive integer (ms), got " .. tostring(t)
    return nil
  end
  return t
end

local builders = {}

function builders.fold(p, step, problems, where)
  local def = step.def
  need_function(problems, where, def, "init")
  need_function(problems, where, def, "apply")
  optional_function(problems, where, def, "key")
  if def.version ~= nil and type(def.version) ~= "string" then
    problems[#problems + 1] = where .. ": version must be a string"
  end
  local list, set = event_types(problems, where, def.event_types, false)
  local store, kind, tbl = store_of(problems, where, def, "fold", p.name, step.name)
  p.folds[step.name] = {
    name = step.name, init = def.init, apply = def.apply, key = def.key,
    version = def.version, event_types = list, accepts = set,
    store = store, store_kind = kind, table = tbl, timeout_ms = timeout_of(problems, where, def),
    options = options_of(problems, where, step.opts),
  }
  p.fold_order[#p.fold_order + 1] = step.name
end

function builders.map(p, step, problems, where)
  local def = step.def
  need_function(problems, where, def, "map")
  local list, set = event_types(problems, where, def.event_types, true)
  local store, kind, tbl = store_of(problems, where, def, "map", p.name, step.name)
  p.maps[step.name] = {
    name = step.name, map = def.map, event_types = list, accepts = set,
    store = store, store_kind = kind, table = tbl, timeout_ms = timeout_of(problems, where, def),
    options = options_of(problems, where, step.opts),
  }
  p.map_order[#p.map_order + 1] = step.name
end

local DEDUP = { debounce = true, throttle = true }

function builders.reactor(p, step, problems, where)
  local def = step.def
  need_function(problems, where, def, "handle")
  if type(step.fold) ~= "string" or not p.folds[step.fold] then
    problems[#problems + 1] = where .. " is attached to fold '" .. tostring(step.fold)
      .. "', which does not exist (declare the fold before its reactors)"
  end
  local options = options_of(problems, where, def.options)
  if options.delay ~= nil and (type(options.delay) ~= "number" or options.delay < 0) then
    problems[#problems + 1] = where .. ": options.delay must be a number of ms >= 0"
  end
  optional_function(problems, where .. " options", options, "job_id")
  if options.dedup ~= nil then
    if not DEDUP[options.dedup] then
      problems[#problems + 1] = where .. ": options.dedup must be \"debounce\" or \"throttle\", got " .. tostring(options.dedup)
    elseif options.job_id == nil then
      problems[#problems + 1] = where .. ": options.dedup needs options.job_id (dedup is by job id)"
    end
  end
  p.reactors[step.name] = {
    name = step.name, fold = step.fold, handle = def.handle, options = options,
    timeout_ms = timeout_of(problems, where, def),
  }
  p.reactor_order[#p.reactor_order + 1] = step.name
end

function builders.command(p, step, problems, where)
  local def = step.def
  local s = def.schema
  if not (schema.is_schema(s) or (type(s) == "table" and type(s.validate) == "function")) then
    problems[#problems + 1] = where .. " is missing schema (an es.schema value)"
  end
  need_function(problems, where, def, "aggregate_id")
  need_function(problems, where, def, "handle")
  p.commands[step.name] = {
    name = step.name, schema = s, aggregate_id = def.aggregate_id, handle = def.handle,
    timeout_ms = timeout_of(problems, where, def),
    options = options_of(problems, where, step.opts),
  }
  p.command_order[#p.command_order + 1] = step.name
end

local KIND_LABEL = { fold = "fold projection", map = "map projection", reactor = "reactor", command = "command" }

-- :build() -> the pipeline table described at the top of this file.
-- Raises one error listing every problem found (missing name or aggregate
-- type, duplicate or malformed names, a reactor on a missing fold, a
-- definition missing a required function, bad options), located at the
-- with_* call of the first faulty component, else at build() (or at
-- define_pipeline() when build() is a tail call).
function Builder:build()
  local pos = position(1) or self.pos
  local problems = {}
  local label = type(self.name) == "string" and ("pipeline '" .. self.name .. "'") or "pipeline"
  if self.name == nil then
    problems[#problems + 1] = "missing name (call :with_name)"
  elseif type(self.name) ~= "string" or not self.name:match(NAME_PATTERN) then
    problems[#problems + 1] = "name must be an identifier ([A-Za-z_][A-Za-z0-9_]*), got " .. tostring(self.name)
  end
  if self.aggregate_type == nil then
    problems[#problems + 1] = "missing aggregate type (call :with_aggregate_type)"
  elseif type(self.aggregate_type) ~= "string" or self.aggregate_type == "" then
    problems[#problems + 1] = "aggregate type must be a non-empty string"
  end
  if self.kill_switch ~= nil and type(self.kill_switch) ~= "table" then
    problems[#problems + 1] = "kill switch definition must be a table"
  elseif self.kill_switch ~= nil then
    for key in pairs(self.kill_switch) do
      if key ~= "mode" then
        problems[#problems + 1] = "kill switch has an unknown field " .. tostring(key) .. " (only mode)"
      end
    end
    local mode = self.kill_switch.mode
    if mode == nil then
      self.kill_switch = { mode = "hold" }
    elseif mode ~= "hold" and mode ~= "reject" then
      problems[#problems + 1] = "kill switch mode must be \"hold\" or \"reject\", got " .. tostring(mode)
    end
  end

  local p = {
    name = self.name, aggregate_type = self.aggregate_type, kill_switch = self.kill_switch,
    folds = {}, maps = {}, reactors = {}, commands = {},
    fold_order = {}, map_order = {}, reactor_order = {}, command_order = {},
  }
  local projection_names, command_names = {}, {}
  for _, step in ipairs(self.steps) do
    local before = #problems
    local where = KIND_LABEL[step.kind] .. " '" .. tostring(step.name) .. "'"
    local seen = step.kind == "command" and command_names or projection_names
    if type(step.name) ~= "string" or not step.name:match(NAME_PATTERN) then
      problems[#problems + 1] = KIND_LABEL[step.kind] .. " name must be an identifier ([A-Za-z_][A-Za-z0-9_]*), got " .. tostring(step.name)
    elseif seen[step.name] then
      problems[#problems + 1] = "duplicate name '" .. step.name .. "': " .. where .. " and " .. seen[step.name]
    elseif type(step.def) ~= "table" then
      problems[#problems + 1] = where .. ": definition must be a table, got " .. type(step.def)
    else
      seen[step.name] = where
      builders[step.kind](p, step, problems, where)
    end
    if before == 0 and #problems > 0 then
      pos = step.pos or pos
    end
  end
  if #problems > 0 then
    error((pos and (pos .. ": ") or "") .. label .. ": " .. table.concat(problems, "; "), 0)
  end
  built_pipelines[p] = true
  return p
end

return builder
