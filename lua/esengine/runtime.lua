-- runtime.lua: the trusted layer the C core (engine/lua_host.c) calls. It
-- loads generations of pipelines (esengine.loader), validates commands,
-- runs command handlers, folds, maps and reactors, and converts between
-- the C core's JSON strings and the tables pipeline code sees. Pipeline
-- code always runs under xpcall with a traceback; errors come back naming
-- pipeline, component, file:line.
--
-- Time limit: before every call into pipeline code the runtime arms the C
-- core's watchdog with the component's timeout_ms (or the engine's default:
-- core.arm(0)); a handler past it is stopped by a hook and fails like any
-- error (engine/lua_host.c). Pipeline code cannot re-arm it: nothing it can
-- reach calls core.arm (a reactor's dispatch validates without arming).
--
-- A generation (gen, built by esengine.loader) is { pipelines = {name ->
-- built pipeline}, order = {names, sorted}, dirs = {name -> folder name},
-- hashes = {name -> content hash}, requires = {name -> sandboxed require},
-- hash = content hash of all of them }.
local core = require("esengine.host")
local event = require("esengine.event")
local info = require("esengine.runtime_info")
local loader = require("esengine.loader")
local routes = require("esengine.routes")
local schema = require("esengine.schema")
local util = require("esengine.runtime_util")

local new_table = require("table.new")

local json_decode, json_encode = util.json_decode, util.json_encode
local ctx_log, traceback, lookup = util.ctx_log, util.traceback, util.lookup
local encode, encode_object, decode_object = util.encode, util.encode_object, util.decode_object
local deep_copy = util.deep_copy

local rt = {}

-- Loading -------------------------------------------------------------------

-- rt.load(pipelines_dir) -> gen with every subfolder holding pipeline.lua;
-- rt.load_one(pipelines_dir, name) -> gen with just that folder's pipeline.
-- Both raise "file:line: message" (see esengine.loader).
rt.load = loader.load
rt.load_one = loader.load_one

-- Introspection ---------------------------------------------------------------

-- rt.summary and rt.reload_status: esengine.runtime_info.
rt.summary = info.summary
rt.reload_status = info.reload_status

-- rt.fold_info(gen, pipeline, fold) -> { table, custom, keyed } or nil, err.
function rt.fold_info(gen, pipeline, fold)
  local _, f, err = lookup(gen, pipeline, "fold", fold)
  if not f then
    return nil, err
  end
  return { table = f.table, custom = f.store_kind == "custom", keyed = f.key ~= nil }
end

-- rt.map_info(gen, pipeline, map) -> { table, custom } or nil, err.
function rt.map_info(gen, pipeline, map)
  local _, m, err = lookup(gen, pipeline, "map", map)
  if not m then
    return nil, err
  end
  return { table = m.table, custom = m.store_kind == "custom" }
end

-- Commands ------------------------------------------------------------------

-- rt.prepare_command(gen, tenant_id, pipeline, command, payload_json)
--   -> true, aggregate_id, command_json
--   |  false, code, message, errors
-- code: "unknown_pipeline", "unknown_command", "invalid_json",
-- "invalid_payload" (errors = {{path, message}}) or "script_error".
-- command_json encodes {tenant_id, pipeline, command, aggregate_id, data}.
-- The definition of command `command` of `pipeline`, or nil, code, message.
local function command_def(gen, pipeline, command)
  local p = gen.pipelines[pipeline]
  if not p then
    return nil, "unknown_pipeline", "unknown pipeline '" .. tostring(pipeline) .. "'"
  end
  local c = p.commands[command]
  if not c then
    return nil, "unknown_command", "pipeline '" .. pipeline .. "' has no command '" .. tostring(command) .. "'"
  end
  return c
end

-- prepare_payload(c, tenant_id, pipeline, command, payload, arm, payload_json,
-- caller_wraps): prepare's steps after decoding, on the payload as a table
-- (c: its command_def); payload_json, when given, is the JSON it was
-- decoded from; caller_wraps: return false for command_json when the
-- envelope is payload_json wrapped as sent (the C core builds it).
local prepare_payload

local function prepare(gen, tenant_id, pipeline, command, payload_json, arm, caller_wraps)
  local c, code, message = command_def(gen, pipeline, command)
  if not c then
    return false, code, message
  end
  if type(tenant_id) ~= "string" or tenant_id == "" then
    local e = { path = "tenant_id", message = "tenant_id: expected a non-empty string" }
    return false, "invalid_payload", e.message, { e }
  end
  local ok, payload, nonfinite = pcall(json_decode, payload_json)
  if not ok then
    return false, "invalid_json", "payload is not valid JSON: " .. tostring(payload)
  end
  -- the JSON goes into the command as sent unless it holds a NaN or an
  -- infinity (cjson's decode: no second result), which encoding refuses
  return prepare_payload(c, tenant_id, pipeline, command, payload, arm,
    nonfinite == false and payload_json or nil, caller_wraps)
end

-- "pipeline P command C", for the messages of prepare_payload (built on
-- failure only: an OTLP request prepares a payload per span).
local function command_where(pipeline, command)
  return "pipeline " .. pipeline .. " command " .. command
end

prepare_payload = function(c, tenant_id, pipeline, command, payload, arm, payload_json, caller_wraps)
  if arm then
    core.arm(c.timeout_ms or 0)
  end
  local vok, valid, errors = xpcall(c.schema.validate, traceback, c.schema, payload)
  if not vok then
    return false, "script_error", command_where(pipeline, command) .. ": schema validation failed: " .. valid
  end
  if not valid then
    return false, "invalid_payload", schema.format_errors(errors), errors
  end
  if arm then
    core.arm(c.timeout_ms or 0)
  end
  local aok, aggregate_id = xpcall(c.aggregate_id, traceback, payload)
  if not aok then
    return false, "script_error", command_where(pipeline, command) .. ": aggregate_id: " .. aggregate_id
  end
  if type(aggregate_id) == "number" then
    aggregate_id = string.format("%.14g", aggregate_id)
  end
  if type(aggregate_id) ~= "string" or aggregate_id == "" then
    return false, "script_error", command_where(pipeline, command) .. ": aggregate_id must return a non-empty string, got " .. type(aggregate_id)
  end
  if payload_json and caller_wraps then
    return true, aggregate_id, false
  end
  if payload_json then
    -- The payload's JSON as sent, rather than encoding the table again
    -- (which cost as much as decoding it): validation and aggregate_id only
    -- read the payload, and the handler gets it decoded from this JSON.
    return true, aggregate_id, '{"tenant_id":' .. json_encode(tenant_id) .. ',"pipeline":' ..
      json_encode(pipeline) .. ',"command":' .. json_encode(command) .. ',"aggregate_id":' ..
      json_encode(aggregate_id) .. ',"data":' .. payload_json .. '}'
  end
  local command_json, err = encode({
    tenant_id = tenant_id, pipeline = pipeline, command = command,
    aggregate_id = aggregate_id, data = payload,
  })
  if not command_json then
    return false, "script_error", command_where(pipeline, command) .. ": payload cannot be encoded as JSON: " .. err
  end
  return true, aggregate_id, command_json
end

function rt.prepare_command(gen, tenant_id, pipeline, command, payload_json)
  return prepare(gen, tenant_id, pipeline, command, payload_json, true)
end

-- rt.prepare_commands_parts(gen, tenant_id, pipeline, command, payloads)
--   -> aggregate_ids, command_jsons
--   |  nil, code, message, errors, index
-- rt.prepare_command for the C core (lua_host_prepare_commands) on every
-- payload JSON of the array payloads, in one call (a call per payload cost
-- as much as a fifth of preparing it), stopping at the first that fails
-- (index: its position, from 1). command_jsons[i] is false when the
-- envelope is payloads[i] as sent, wrapped with the command's parts: the C
-- core writes it (engine/command_envelope.c), which costs less than
-- concatenating and interning it here.
function rt.prepare_commands_parts(gen, tenant_id, pipeline, command, payloads)
  local n = #payloads
  local aggregate_ids, command_jsons = new_table(n, 0), new_table(n, 0)
  for i = 1, n do
    local ok, aggregate_id, command_json, errors = prepare(gen, tenant_id, pipeline, command,
      payloads[i], true, true)
    if not ok then
      return nil, aggregate_id, command_json, errors, i
    end
    aggregate_ids[i], command_jsons[i] = aggregate_id, command_json
  end
  return aggregate_ids, command_jsons
end

local function is_list(t)
  if type(t) ~= "table" then
    return false
  end
  local n = 0
  for _ in pairs(t) do
    n = n + 1
  end
  return n == #t
end

-- The name of a handler's i-th event e in errors: "pipeline P command C:
-- event I", with " (TYPE)" when e has a usable type. Built on failure only.
local function event_at(p, c, e, i)
  local name = command_where(p.name, c.name) .. ": event " .. i
  if type(e) == "table" and type(e.type) == "string" and e.type ~= "" then
    name = name .. " (" .. e.type .. ")"
  end
  return name
end

-- Turns the i-th event e of command c's handler (from es.event) into the
-- table the C core appends, with its routes. Each field of e is read once.
local function outgoing_event(gen, p, c, tenant_id, aggregate_id, ctx, e, i)
  if type(e) ~= "table" then
    error(event_at(p, c, e, i) .. " must be an es.event(...) table, got " .. type(e), 0)
  end
  local ev_type, data, metadata = e.type, e.data, e.metadata
  if type(ev_type) ~= "string" or ev_type == "" then
    error(event_at(p, c, e, i) .. " has no type (build events with es.event(type, data))", 0)
  end
  if data ~= nil and (type(data) ~= "table" or rawget(data, 1) ~= nil) then
    error(event_at(p, c, e, i) .. ": data must be an object (a table with string keys), got "
      .. (type(data) == "table" and "a list" or type(data)), 0)
  end
  if metadata ~= nil and type(metadata) ~= "table" then
    error(event_at(p, c, e, i) .. ": metadata must be a table, got " .. type(metadata), 0)
  end
  local occurred_at = e.occurred_at
  if occurred_at ~= nil and (type(occurred_at) ~= "number" or occurred_at ~= math.floor(occurred_at)) then
    error(event_at(p, c, e, i) .. ": occurred_at must be an integer (ms)", 0)
  end
  local idempotency_key = e.idempotency_key
  if idempotency_key ~= nil and (type(idempotency_key) ~= "string" or idempotency_key == "") then
    error(event_at(p, c, e, i) .. ": idempotency_key must be a non-empty string", 0)
  end
  local data_json, derr = encode_object(data)
  if not data_json then
    error(event_at(p, c, e, i) .. ": data cannot be encoded as JSON: " .. derr, 0)
  end
  local metadata_json, merr = encode_object(metadata)
  if not metadata_json then
    error(event_at(p, c, e, i) .. ": metadata cannot be encoded as JSON: " .. merr, 0)
  end
  local version = e.version
  local out = {
    tenant_id = tenant_id,
    aggregate_type = p.aggregate_type,
    aggregate_id = aggregate_id,
    type = ev_type,
    version = type(version) == "string" and version or event.DEFAULT_VERSION,
    occurred_at = occurred_at or ctx.now,
    idempotency_key = idempotency_key,
    data_json = data_json,
    metadata_json = metadata_json,
  }
  local plan = routes.plan(gen, p, ev_type)
  local seen
  if #plan.keyed > 0 then
    -- What key functions see: the event as folds will, minus id/seq/created_at.
    seen = {
      tenant_id = out.tenant_id, aggregate_type = out.aggregate_type, aggregate_id = out.aggregate_id,
      type = ev_type, version = out.version, occurred_at = out.occurred_at,
      idempotency_key = idempotency_key, data = data or {}, metadata = metadata or {},
    }
  end
  out.routes = routes.of(plan, seen, traceback, event_at, p, c, e, i)
  return out
end

-- The events of command `command_name` of `pipeline` on data (the
-- decoded payload), for rt.handle_command and rt.handle_command_parts.
local function handle(gen, tenant_id, pipeline, command_name, aggregate_id, data)
  local p, c, err = lookup(gen, pipeline, "command", command_name)
  if not c then
    error("handle_command: " .. err, 0)
  end
  local command = { tenant_id = tenant_id, data = data, type = c.name, aggregate_id = aggregate_id }
  local ctx = { tenant_id = tenant_id, aggregate_id = aggregate_id, now = core.now(), log = ctx_log }
  core.arm(c.timeout_ms or 0)
  local hok, result = xpcall(c.handle, traceback, command, ctx)
  if not hok then
    error(command_where(p.name, c.name) .. ": " .. result, 0)
  end
  if not is_list(result) then
    error(command_where(p.name, c.name) .. ": handle must return a list of events, got "
      .. (type(result) == "table" and "a table that is not a list" or type(result)), 0)
  end
  local events = new_table(#result, 0)
  for i, e in ipairs(result) do
    events[i] = outgoing_event(gen, p, c, tenant_id, aggregate_id, ctx, e, i)
  end
  return events
end

-- rt.handle_command(gen, command_json) -> array of events for the C core
-- to append: { tenant_id, aggregate_type, aggregate_id, type, version,
-- occurred_at, idempotency_key, data_json, metadata_json, routes =
-- {{kind, pipeline, component, key?, keyed?}} } (a route without a key is
-- keyed by the event's aggregate). Raises on any failure, naming
-- pipeline and command, with file:line and a traceback for script errors.
function rt.handle_command(gen, command_json)
  local ok, cmd = pcall(json_decode, command_json)
  if not ok or type(cmd) ~= "table" then
    error("handle_command: command is not valid JSON: " .. tostring(cmd), 0)
  end
  return handle(gen, cmd.tenant_id, cmd.pipeline, cmd.command, cmd.aggregate_id, cmd.data)
end

-- rt.handle_command_parts(gen, tenant_id, pipeline, command, aggregate_id,
-- data_json): rt.handle_command on the parts of a command JSON the C core
-- found in it (engine/command_envelope.c), so that only data is decoded.
function rt.handle_command_parts(gen, tenant_id, pipeline, command, aggregate_id, data_json)
  local ok, data = pcall(json_decode, data_json)
  if not ok then
    error("handle_command: command is not valid JSON: " .. tostring(data), 0)
  end
  return handle(gen, tenant_id, pipeline, command, aggregate_id, data)
end

-- rt.handle_commands_parts(gen, parts, n) -> results, err, index: the n
-- commands of a claim in one call (engine/lua_host_run.c). parts holds 5
-- values per command: tenant_id, pipeline, command, aggregate_id,
-- data_json (the parts engine/command_envelope.c found, for
-- rt.handle_command_parts), or false four times and the command JSON (for
-- rt.handle_command). results[i]: command i's events; at the first command
-- that raises, its error and index (from 1) come back with the results
-- before it.
function rt.handle_commands_parts(gen, parts, n)
  local results = new_table(n, 0)
  for i = 1, n do
    local at = (i - 1) * 5
    local tenant_id = parts[at + 1]
    local ok, events
    if tenant_id then
      ok, events = pcall(rt.handle_command_parts, gen, tenant_id, parts[at + 2], parts[at + 3],
        parts[at + 4], parts[at + 5])
    else
      ok, events = pcall(rt.handle_command, gen, parts[at + 5])
    end
    if not ok then
      return results, tostring(events), i
    end
    results[i] = events
  end
  return results
end

-- Projections -----------------------------------------------------------------

-- rt.EVENT_FIELDS: the fields of a stored event in the order of an event
-- row, the array the C core hands run_fold, run_map and run_reactor for
-- each event (engine/lua_host_run.c, push_event_row): row[i] is the field
-- EVENT_FIELDS[i]; a missing idempotency_key is a hole. Rows rather than
-- named tables: the C core then interns no field name per event, and the
-- event pipeline code sees is built by one table constructor.
rt.EVENT_FIELDS = {
  "id", "tenant_id", "aggregate_type", "aggregate_id", "seq", "type", "version",
  "occurred_at", "created_at", "idempotency_key", "data_json", "metadata_json",
}

-- The event as pipeline code sees it, made from an event row: every field
-- but data_json and metadata_json, which are decoded as data and metadata.
-- A fresh table per call (pipeline code may change it; the row stays as
-- it came). Raises on bad JSON.
local function author_event(row)
  return {
    id = row[1], tenant_id = row[2], aggregate_type = row[3], aggregate_id = row[4],
    seq = row[5], type = row[6], version = row[7], occurred_at = row[8], created_at = row[9],
    idempotency_key = row[10], data = decode_object(row[11]), metadata = decode_object(row[12]),
  }
end

-- "event ID (seq S, TYPE)" of an event row.
local function event_label(row)
  return "event " .. tostring(row[1]) .. " (seq " .. tostring(row[5]) .. ", " .. tostring(row[6]) .. ")"
end

-- "pipeline P KIND NAME", the prefix of a component's errors.
local function component_where(pipeline, kind, name)
  return "pipeline " .. pipeline .. " " .. kind .. " " .. name
end

-- "pipeline P KIND NAME event ID (seq S, TYPE)", the prefix of the errors
-- of a component's run on one event. Built on failure only: pipeline code
-- never sees the row, so it reads the same then.
local function event_where(pipeline, kind, name, row)
  return component_where(pipeline, kind, name) .. " " .. event_label(row)
end

-- The time limit of the handler calls of the current entry point (a
-- component's timeout_ms, or 0 for the engine's default).
local limit = 0

-- call0(fn), call1(fn, a), call2(fn, a, b): fn with exactly those
-- arguments under xpcall within the current limit; true and fn's results,
-- or false and the error with its traceback (callers prefix where).
local function call0(fn)
  core.arm(limit)
  return xpcall(fn, traceback)
end

local function call1(fn, a)
  core.arm(limit)
  return xpcall(fn, traceback, a)
end

local function call2(fn, a, b)
  core.arm(limit)
  return xpcall(fn, traceback, a, b)
end

-- The reactors of each fold (built pipelines never change), in declaration
-- order, found on the fold's first batch.
local reactors_by_fold = setmetatable({}, { __mode = "k" })

local function reactors_of(p, f)
  local list = reactors_by_fold[f]
  if list then
    return list
  end
  list = {}
  for _, rname in ipairs(p.reactor_order) do
    if p.reactors[rname].fold == f.name then
      list[#list + 1] = p.reactors[rname]
    end
  end
  reactors_by_fold[f] = list
  return list
end

-- The fold's starting state: a copy of `stored` (what a custom store's get
-- returned; apply may mutate it in place), else the decoded state_json,
-- else init(). Returns state or nil, err (pipeline and fold name it).
local function starting_state(f, pipeline, fold, state_json, stored)
  local state
  if stored ~= nil then
    state = deep_copy(stored)
  elseif state_json then
    local ok, decoded = pcall(json_decode, state_json)
    if not ok then
      return nil, component_where(pipeline, "fold", fold) .. ": stored state is not valid JSON: " .. tostring(decoded)
    end
    state = decoded
  end
  if state == nil then
    local ok, fresh = call0(f.init)
    if not ok then
      return nil, component_where(pipeline, "fold", fold) .. ": init: " .. tostring(fresh)
    end
    state = fresh
  end
  if type(state) ~= "table" then
    return nil, component_where(pipeline, "fold", fold) .. ": initial state must be a table, got " .. type(state)
  end
  return state
end

-- The reactor jobs of the i-th event ev, which made new_state: one per
-- reactor, with state_json. Returns jobs or nil, err (without the event's
-- where prefix, which the caller adds).
local function reactor_jobs(reactors, i, ev, new_state)
  local state_json, eerr = encode(new_state)
  if not state_json then
    return nil, ": state cannot be encoded as JSON: " .. eerr
  end
  local event_jobs = {}
  for _, r in ipairs(reactors) do
    local job_id
    if r.options.job_id then
      local jok, id = call2(r.options.job_id, ev, new_state)
      if not jok then
        return nil, ": reactor " .. r.name .. " job_id: " .. tostring(id)
      end
      if type(id) == "number" then
        id = string.format("%.14g", id)
      end
      if id ~= nil and type(id) ~= "string" then
        return nil, ": reactor " .. r.name .. " job_id must return a string or nil, got " .. type(id)
      end
      job_id = id
    end
    event_jobs[#event_jobs + 1] = {
      reactor = r.name, index = i, state_json = state_json,
      delay = r.options.delay or 0, job_id = job_id, dedup = r.options.dedup,
    }
  end
  return event_jobs
end

-- Applies event rows in order to state; returns state, n_applied, reactor
-- jobs, err (stopping at the first failing event).
local function apply_events(f, pipeline, fold, reactors, state, events, collect_jobs)
  local jobs = {}
  local apply = f.apply
  local with_jobs = collect_jobs and #reactors > 0
  for i, row in ipairs(events) do
    local dok, ev = pcall(author_event, row)
    if not dok then
      return state, i - 1, jobs, event_where(pipeline, "fold", fold, row) .. ": bad event JSON: " .. tostring(ev)
    end
    local ok, new_state = call2(apply, state, ev)
    if not ok then
      return state, i - 1, jobs, event_where(pipeline, "fold", fold, row) .. ": " .. tostring(new_state)
    end
    if type(new_state) ~= "table" then
      return state, i - 1, jobs, event_where(pipeline, "fold", fold, row)
        .. ": apply must return the state table, got " .. type(new_state)
    end
    if with_jobs then
      local event_jobs, jerr = reactor_jobs(reactors, i, ev, new_state)
      if not event_jobs then
        return state, i - 1, jobs, event_where(pipeline, "fold", fold, row) .. jerr
      end
      for _, job in ipairs(event_jobs) do
        jobs[#jobs + 1] = job
      end
    end
    state = new_state
  end
  return state, #events, jobs, nil
end

-- The ctx a custom fold store gets: the group's key is the aggregate id, or
-- for a keyed fold key(first event). Returns ctx or nil, err.
local function custom_store_ctx(f, pipeline, fold, first)
  local key = first[4] -- aggregate_id
  if f.key then
    local dok, ev = pcall(author_event, first)
    if not dok then
      return nil, component_where(pipeline, "fold", fold) .. ": bad event JSON: " .. tostring(ev)
    end
    local ok, k = call1(f.key, ev)
    if not ok then
      return nil, component_where(pipeline, "fold", fold) .. ": key: " .. tostring(k)
    end
    if type(k) == "number" then
      k = string.format("%.14g", k)
    end
    if type(k) ~= "string" then
      return nil, component_where(pipeline, "fold", fold) .. ": key must return a string for a custom store, got " .. type(k)
    end
    key = k
  end
  return { tenant_id = first[2], aggregate_id = key, key = key, pipeline = pipeline, fold = fold }
end

-- rt.run_fold(gen, pipeline, fold, state_json_or_nil, events)
--   -> state_json, n_applied, reactor_jobs, err
-- Applies events (event rows, see rt.EVENT_FIELDS) in order to decode(state_json) or init().
-- On a failure at event i: the state after i-1 events (nil if none), i-1,
-- the reactor jobs of those events, and the error. reactor_jobs:
-- {{reactor, index, state_json, delay, job_id, dedup}}. A custom store is
-- read and written here, and state_json is then nil.
function rt.run_fold(gen, pipeline, fold, state_json, events)
  local p, f, lerr = lookup(gen, pipeline, "fold", fold)
  if not f then
    return nil, 0, {}, lerr
  end
  limit = f.timeout_ms or 0
  if #events == 0 then
    return nil, 0, {}, nil
  end
  local store_ctx, stored
  if f.store_kind == "custom" then
    local cerr
    store_ctx, cerr = custom_store_ctx(f, pipeline, fold, events[1])
    if not store_ctx then
      return nil, 0, {}, cerr
    end
    local ok, got = call2(f.store.get, store_ctx.key, store_ctx)
    if not ok then
      return nil, 0, {}, component_where(pipeline, "fold", fold) .. ": store.get: " .. tostring(got)
    end
    stored, state_json = got, nil
  end
  local reactors = reactors_of(p, f)
  local state, ierr = starting_state(f, pipeline, fold, state_json, stored)
  if not state then
    return nil, 0, {}, ierr
  end
  local final, n, jobs, err = apply_events(f, pipeline, fold, reactors, state, events, true)
  if err and n > 0 then
    -- apply may have mutated the state in place before failing: rebuild the
    -- state after the n good events from the starting point.
    local again = starting_state(f, pipeline, fold, state_json, stored)
    if not again then
      return nil, 0, {}, err
    end
    local prefix = {}
    for i = 1, n do
      prefix[i] = events[i]
    end
    local rn, rerr
    final, rn, _, rerr = apply_events(f, pipeline, fold, reactors, again, prefix, false)
    if rerr or rn ~= n then
      return nil, 0, {}, err
    end
  end
  if n == 0 then
    return nil, 0, jobs, err
  end
  if store_ctx then
    local ok, serr = call2(f.store.store, final, store_ctx)
    if not ok then
      return nil, 0, {}, component_where(pipeline, "fold", fold) .. ": store.store: " .. tostring(serr)
    end
    return nil, n, jobs, err
  end
  local out, eerr = encode(final)
  if not out then
    return nil, 0, {}, component_where(pipeline, "fold", fold) .. ": state cannot be encoded as JSON: " .. eerr
  end
  return out, n, jobs, err
end

-- rt.run_map(gen, pipeline, map, events) -> records, n_done, err.
-- events are event rows (rt.EVENT_FIELDS).
-- records[i] is the JSON of map(event i), or false when it returned nil or
-- the record went to a custom store (appended here). Stops at the first
-- failing event i (n_done = i-1).
function rt.run_map(gen, pipeline, map, events)
  local _, m, lerr = lookup(gen, pipeline, "map", map)
  if not m then
    return {}, 0, lerr
  end
  limit = m.timeout_ms or 0
  local map_fn, custom = m.map, m.store_kind == "custom"
  local records = new_table(#events, 0)
  for i, row in ipairs(events) do
    local dok, ev = pcall(author_event, row)
    if not dok then
      return records, i - 1, event_where(pipeline, "map", map, row) .. ": bad event JSON: " .. tostring(ev)
    end
    local ok, record = call1(map_fn, ev)
    if not ok then
      return records, i - 1, event_where(pipeline, "map", map, row) .. ": " .. tostring(record)
    end
    if record == nil then
      records[i] = false
    elseif custom then
      local ctx = { tenant_id = row[2], aggregate_id = row[4], event_id = row[1], pipeline = pipeline, map = map }
      local aok, aerr = call2(m.store.append, record, ctx)
      if not aok then
        return records, i - 1, event_where(pipeline, "map", map, row) .. ": store.append: " .. tostring(aerr)
      end
      records[i] = false
    else
      if type(record) ~= "table" then
        return records, i - 1, event_where(pipeline, "map", map, row)
          .. ": map must return a record table or nil, got " .. type(record)
      end
      local rj, eerr = encode(record)
      if not rj then
        return records, i - 1, event_where(pipeline, "map", map, row) .. ": record cannot be encoded as JSON: " .. eerr
      end
      records[i] = rj
    end
  end
  return records, #events, nil
end

-- Reactors ------------------------------------------------------------------

-- rt.run_reactor(gen, pipeline, reactor, event_row, state_json)
--   -> dispatched, err
-- Runs handle(event, ctx) with ctx = { fold_state, tenant_id, aggregate_id,
-- dispatch(pipeline, command, payload), log }. dispatch validates at once
-- (raising on a bad command) and collects {pipeline, command, aggregate_id,
-- command_json}; commands always go to the event's tenant. On error:
-- nil, err (nothing dispatched).
function rt.run_reactor(gen, pipeline, reactor, event_row, state_json)
  local _, r, lerr = lookup(gen, pipeline, "reactor", reactor)
  if not r then
    return nil, lerr
  end
  local where = "pipeline " .. pipeline .. " reactor " .. reactor .. " " .. event_label(event_row)
  limit = r.timeout_ms or 0
  local dok, ev = pcall(author_event, event_row)
  if not dok then
    return nil, where .. ": bad event JSON: " .. tostring(ev)
  end
  local fold_state
  if state_json then
    local ok, decoded = pcall(json_decode, state_json)
    if not ok then
      return nil, where .. ": fold state is not valid JSON: " .. tostring(decoded)
    end
    fold_state = decoded
  end
  local dispatched = {}
  local ctx = { fold_state = fold_state, tenant_id = ev.tenant_id, aggregate_id = ev.aggregate_id, log = ctx_log }
  ctx.dispatch = function(target_pipeline, command, payload)
    local payload_json, eerr = encode(payload == nil and {} or payload)
    if not payload_json then
      error("dispatch " .. tostring(target_pipeline) .. "." .. tostring(command) .. ": payload cannot be encoded as JSON: " .. eerr, 2)
    end
    local ok, aggregate_id_or_code, command_json_or_message = prepare(gen, ev.tenant_id, target_pipeline, command, payload_json, false)
    if not ok then
      error("dispatch " .. tostring(target_pipeline) .. "." .. tostring(command) .. ": "
        .. aggregate_id_or_code .. ": " .. command_json_or_message, 2)
    end
    dispatched[#dispatched + 1] = {
      pipeline = target_pipeline, command = command,
      aggregate_id = aggregate_id_or_code, command_json = command_json_or_message,
    }
  end
  local ok, err = call2(r.handle, ev, ctx)
  if not ok then
    return nil, where .. ": " .. tostring(err)
  end
  return dispatched
end

-- rt.otlp_commands(gen, tenant_id, pipeline, command, otlp_json, max_spans)
--   -> aggregate_ids, command_jsons, rejected, message
--   |  false, spans  (more than max_spans spans: nothing prepared)
-- Converts an OTLP/HTTP JSON ExportTraceServiceRequest with the pipeline's
-- own utils/otlp.lua (to_record_span_payloads), inside its sandbox, and
-- prepares every payload as `command` like prepare_command (schema,
-- aggregate_id, command JSON), all in one call: the payloads are validated
-- as the converter's tables, and each is encoded once, in its command.
-- aggregate_ids[i] and command_jsons[i] are the accepted spans, in request
-- order; rejected counts the spans the converter or the schema refused and
-- message says why (the converter's first reasons, else the schema's first
-- refusal as "span I: ..." with I the payload's 0-based index), or nil.
-- Raises on malformed JSON ("invalid JSON: ..."), an unknown pipeline or
-- command, a pipeline without the converter, or a script error.
function rt.otlp_commands(gen, tenant_id, pipeline, command, otlp_json, max_spans)
  local req = gen.requires[pipeline]
  if not req then
    error("unknown pipeline '" .. tostring(pipeline) .. "'", 0)
  end
  local c, _, unknown = command_def(gen, pipeline, command)
  if not c then
    error(unknown, 0)
  end
  if type(tenant_id) ~= "string" or tenant_id == "" then
    error("tenant_id: expected a non-empty string", 0)
  end
  local ok, request = pcall(json_decode, otlp_json)
  if not ok then
    error("invalid JSON: " .. tostring(request), 0)
  end
  local where = "pipeline " .. pipeline .. " utils.otlp"
  limit = 0
  local ok_req, converter = call1(req, "utils.otlp")
  if not ok_req then error(where .. ": " .. tostring(converter), 0) end
  if type(converter) ~= "table" or type(converter.to_record_span_payloads) ~= "function" then
    error(where .. ": must export to_record_span_payloads(request)", 0)
  end
  local ok_conv, payloads, rejected = call1(converter.to_record_span_payloads, request)
  if not ok_conv then error(where .. ": " .. tostring(payloads), 0) end
  payloads, rejected = payloads or {}, rejected or {}
  if #payloads + #rejected > max_spans then
    return false, #payloads + #rejected
  end
  local reasons = {}
  for i, r in ipairs(rejected) do
    if i > 5 then
      reasons[#reasons + 1] = "..."
      break
    end
    reasons[#reasons + 1] = tostring(r.path) .. ": " .. tostring(r.reason)
  end
  local message = #reasons > 0 and table.concat(reasons, "; ") or nil
  local n_rejected = #rejected
  local aggregate_ids, command_jsons = {}, {}
  for i, payload in ipairs(payloads) do
    local pok, aggregate_id, command_json = prepare_payload(c, tenant_id, pipeline, command,
      payload, true)
    if pok then
      aggregate_ids[#aggregate_ids + 1] = aggregate_id
      command_jsons[#command_jsons + 1] = command_json
    elseif aggregate_id == "invalid_payload" then
      n_rejected = n_rejected + 1
      message = message or string.format("span %d: %s", i - 1, command_json)
    else
      error(command_json, 0)
    end
  end
  return aggregate_ids, command_jsons, n_rejected, message
end

return rt
