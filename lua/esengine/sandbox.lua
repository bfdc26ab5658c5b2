-- sandbox.lua: loads one pipeline folder (<pipelines_dir>/<name>/) inside
-- its own restricted environment. Pipeline code sees only the allowed
-- globals (own copies of string, table and math; es and cjson through
-- require); io, os, debug, ffi, load*, dofile, setfenv/getfenv, module,
-- package, collectgarbage and string.dump are absent, and assigning an
-- undeclared global is an error. Pipeline functions run with the JIT off
-- (see load_file) so that the engine's time limit can stop them. `require`
-- resolves "a.b" to <pipeline>/a/b.lua, then <pipeline>/a/b/init.lua, then
-- the engine's public library modules; results are cached per pipeline. Files are read
-- here, in the trusted layer, and compiled with chunk names
-- "@<last part of pipelines_dir>/<name>/<relative path>" so errors read
-- "pipelines/x/projections/y.lua:12: message".
local cjson = require("cjson")
local core = require("esengine.host")
local log = require("esengine.log")

local sandbox = {}

-- Engine library modules a pipeline may require (each gets its own copy).
local LIBRARY = {
  ["esengine"] = true,
  ["esengine.schema"] = true,
  ["esengine.stores"] = true,
  ["esengine.event"] = true,
  ["esengine.log"] = true,
}

-- Globals that exist in the engine but not in pipelines, named in the error
-- a script gets when it reaches for one.
local FORBIDDEN = {
  io = true, os = true, debug = true, ffi = true, jit = true, load = true,
  loadstring = true, loadfile = true, dofile = true, setfenv = true,
  getfenv = true, module = true, package = true, collectgarbage = true,
  newproxy = true, coroutine = true, rawset = true,
}

local SAFE_FUNCTIONS = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget",
  "select", "setmetatable", "tonumber", "tostring", "type", "unpack", "xpcall",
}

-- A deep copy of a library table (functions shared, tables copied), so a
-- pipeline that mutates its copy changes nothing elsewhere.
local function copy_table(t, seen)
  seen = seen or {}
  if seen[t] then
    return seen[t]
  end
  local c = {}
  seen[t] = c
  for k, v in pairs(t) do
    c[k] = type(v) == "table" and copy_table(v, seen) or v
  end
  return c
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local src = f:read("*a")
  f:close()
  return src
end

-- Module names are dotted paths inside the pipeline folder.
local function check_module_name(name)
  if type(name) ~= "string" or name == "" then
    error("require: module name must be a non-empty string, got " .. type(name), 3)
  end
  if name:find("[/\\]") or name:find("%.%.") or name:sub(1, 1) == "." or name:sub(-1) == "." then
    error("require '" .. name .. "': refused, module names are dotted paths inside the pipeline folder (no '/', '\\' or '..')", 3)
  end
end

-- The environment of one pipeline; `state` collects the files it read.
local function make_env(state)
  local env = {}
  for _, fname in ipairs(SAFE_FUNCTIONS) do
    env[fname] = _G[fname]
  end
  env._VERSION = _VERSION
  env.string = copy_table(string)
  env.string.dump = nil
  env.table = copy_table(table)
  env.math = copy_table(math)
  -- getmetatable("") would hand out the engine's shared string metatable.
  env.getmetatable = function(v)
    if type(v) == "string" then
      return nil
    end
    return getmetatable(v)
  end
  env.print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do
      parts[i] = tostring((select(i, ...)))
    end
    log.info(table.concat(parts, "\t"))
  end
  env._G = env

  local loaded, loading = {}, {}

  local function load_file(relpath, name)
    local fullpath = state.dir .. "/" .. relpath
    local src = read_file(fullpath)
    if not src then
      return false
    end
    state.files[relpath] = src
    local chunk, err = loadstring(src, "@" .. state.chunk_prefix .. relpath)
    if not chunk then
      error(err, 0)
    end
    setfenv(chunk, env)
    -- Pipeline code is never JIT-compiled (this chunk and every function it
    -- defines): compiled loops do not run hooks, and the host stops a
    -- handler past its time limit with a hook (engine/lua_host.c).
    jit.off(chunk, true)
    local result = chunk(name)
    if result == nil then
      result = true
    end
    return true, result
  end

  -- require(name): pipeline file first, then the engine's library.
  env.require = function(name)
    check_module_name(name)
    if loaded[name] ~= nil then
      return loaded[name]
    end
    if loading[name] then
      error("require '" .. name .. "': circular require", 2)
    end
    loading[name] = true
    local rel = name:gsub("%.", "/")
    local found, result = load_file(rel .. ".lua", name)
    if not found then
      found, result = load_file(rel .. "/init.lua", name)
    end
    if not found then
      if name == "cjson" then
        result = cjson.new()
      elseif LIBRARY[name] then
        result = copy_table(require(name))
      else
        loading[name] = nil
        error("require '" .. name .. "': module not found (no " .. state.chunk_prefix .. rel .. ".lua, no "
          .. state.chunk_prefix .. rel .. "/init.lua, and not an engine library module)", 2)
      end
    end
    loading[name] = nil
    loaded[name] = result
    return result
  end

  local function undeclared(_, key)
    if FORBIDDEN[key] then
      error("'" .. tostring(key) .. "' is not available in pipeline scripts (sandbox)", 2)
    end
    return nil
  end
  setmetatable(env, {
    __index = undeclared,
    __newindex = function(_, key)
      error("assignment to undeclared global '" .. tostring(key) .. "'", 2)
    end,
    __metatable = false,
  })
  return env, load_file
end

-- sandbox.load(pipelines_dir, name) -> built pipeline, files, require
-- files maps each relative path read (pipeline.lua and every required file)
-- to its content; require is the pipeline's own sandboxed require, for the
-- engine to call a pipeline utility (the OTLP conversion) later. Raises "file:line: message", or
-- "<dir>/<name>/pipeline.lua: message" when pipeline.lua is missing or
-- returns something other than a built pipeline.
function sandbox.load(pipelines_dir, name)
  local builder = require("esengine.builder")
  pipelines_dir = pipelines_dir:gsub("/+$", "")
  local state = {
    dir = pipelines_dir .. "/" .. name,
    -- Chunk names start at the pipelines dir's own name ("pipelines/x/y.lua"):
    -- Lua cuts chunk names past 60 characters, so a long absolute path would
    -- lose the part that says which file failed.
    chunk_prefix = (pipelines_dir:match("([^/]+)$") or pipelines_dir) .. "/" .. name .. "/",
    files = {},
  }
  local main = state.chunk_prefix .. "pipeline.lua"
  local env, load_file = make_env(state)
  -- Loading the pipeline (pipeline.lua and what it requires) is one call
  -- under the default time limit; later requires run within the handler's.
  core.arm(0)
  local ok, found, result = pcall(load_file, "pipeline.lua", "pipeline")
  if not ok then
    if type(found) ~= "string" then
      error(main .. ": error object of type " .. type(found), 0)
    end
    error(found, 0)
  end
  if not found then
    error(main .. ": cannot read file", 0)
  end
  if not builder.is_pipeline(result) then
    error(main .. ": must return the built pipeline (es.define_pipeline()...:build()), got " .. type(result), 0)
  end
  return result, state.files, env.require
end

return sandbox
