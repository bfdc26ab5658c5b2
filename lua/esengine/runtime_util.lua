-- runtime_util.lua: what the parts of the trusted runtime (esengine.runtime)
-- share: the engine's JSON codec, the ctx.log handed to pipeline code, the
-- xpcall handler that trims tracebacks to pipeline frames, JSON helpers for
-- event data, a deep copy, and the lookup of a pipeline's component.
local cjson = require("cjson")
local core = require("esengine.host")
local log = require("esengine.log")

local util = {}

-- The engine's own cjson instance: pipelines cannot change its settings.
-- In the engine the C core's codec stands in for it (engine/lua_json.h:
-- the same results, faster); plain busted runs keep cjson.
local json = cjson.new()
util.json_decode = core.json_decode or json.decode
util.json_encode = core.json_encode or json.encode
local json_decode, json_encode = util.json_decode, util.json_encode

-- es.log as handed to pipeline code in ctx: read-only, shared.
util.ctx_log = setmetatable({}, {
  __index = log,
  __newindex = function()
    error("ctx.log is read-only", 2)
  end,
  __metatable = false,
})

-- xpcall handler: the message plus the traceback of the pipeline frames
-- (the runtime's own frames, from the xpcall down, are cut).
function util.traceback(e)
  local tb = debug.traceback(tostring(e), 2)
  local cut = tb:find("\n%s*%[C%]: in function 'xpcall'")
  return cut and tb:sub(1, cut - 1) or tb
end

-- Encodes v as JSON, or returns nil, reason.
function util.encode(v)
  local ok, s = pcall(json_encode, v)
  if not ok then
    return nil, tostring(s)
  end
  return s
end

-- Encodes an event's data or metadata table (nil: none) as JSON, or returns
-- nil, reason. An empty table is "{}" without asking cjson, which writes the
-- same: a handler's metadata is nearly always empty.
function util.encode_object(t)
  if t == nil or next(t) == nil then
    return "{}"
  end
  return util.encode(t)
end

-- Decodes an event's data_json or metadata_json (nil: none) into a fresh
-- table; "{}" (most metadata) skips cjson. Raises on bad JSON.
function util.decode_object(s)
  if s == nil or s == "{}" then
    return {}
  end
  return json_decode(s)
end

function util.deep_copy(v, seen)
  if type(v) ~= "table" then
    return v
  end
  seen = seen or {}
  if seen[v] then
    return seen[v]
  end
  local c = {}
  seen[v] = c
  for k, x in pairs(v) do
    c[util.deep_copy(k, seen)] = util.deep_copy(x, seen)
  end
  return c
end

-- The field of a built pipeline holding each kind of component.
local COMPONENTS_OF_KIND = { fold = "folds", map = "maps", reactor = "reactors", command = "commands" }

-- The pipeline and its component `name` of `kind`, or nil, nil, err.
function util.lookup(gen, pipeline, kind, name)
  local p = gen.pipelines[pipeline]
  if not p then
    return nil, nil, "unknown pipeline " .. tostring(pipeline)
  end
  local c = p[COMPONENTS_OF_KIND[kind]][name]
  if not c then
    return nil, nil, "unknown " .. kind .. " " .. tostring(name) .. " in pipeline " .. tostring(pipeline)
  end
  return p, c
end

return util
