-- sandbox_spec.lua: pipeline scripts cannot escape their environment. Each
-- case writes a pipeline folder into a temporary directory and loads it.
local sandbox = require("esengine.sandbox")

local root

local function write(rel, content)
  local path = root .. "/" .. rel
  os.execute("mkdir -p '" .. path:match("^(.*)/[^/]+$") .. "'")
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
end

-- A pipeline.lua that runs `body` before returning a valid pipeline.
local function pipeline(name, body)
  write(name .. "/pipeline.lua", "local es = require('esengine')\n" .. body .. [[

return es.define_pipeline():with_name("]] .. name .. [["):with_aggregate_type("]] .. name .. [[")
  :with_fold_projection("f", { init = function() return {} end, apply = function(s) return s end })
  :build()
]])
end

-- The error raised when loading pipeline `name`.
local function load_error(name)
  local ok, err = pcall(sandbox.load, root, name)
  assert.is_false(ok, "expected loading " .. name .. " to fail")
  return err
end

local function attempt(name, body)
  pipeline(name, body)
  return load_error(name)
end

setup(function()
  root = os.tmpname()
  os.remove(root)
  os.execute("mkdir -p '" .. root .. "'")
end)

teardown(function()
  os.execute("rm -rf '" .. root .. "'")
end)

describe("the pipeline sandbox", function()
  it("loads a pipeline and requires its own modules first", function()
    write("good/utils/math.lua", "return { double = function(x) return x * 2 end }")
    write("good/utils/init.lua", "return { name = 'utils' }")
    write("good/pipeline.lua", [[
local es = require("esengine")
local m = require("utils.math")
assert(require("utils").name == "utils")
assert(require("utils.math") == m, "modules are cached")
assert(m.double(2) == 4)
assert(require("cjson").encode({ 1 }) == "[1]")
return es.define_pipeline():with_name("good"):with_aggregate_type("good"):build()
]])
    local p, files = sandbox.load(root, "good")
    assert.equal("good", p.name)
    assert.truthy(files["pipeline.lua"])
    assert.truthy(files["utils/math.lua"])
    assert.truthy(files["utils/init.lua"])
  end)

  for _, name in ipairs({ "io", "os", "debug", "ffi", "jit", "load", "loadstring", "loadfile", "dofile",
    "setfenv", "getfenv", "module", "package", "collectgarbage", "rawset", "coroutine" }) do
    it("has no " .. name, function()
      local err = attempt("no_" .. name, "local x = " .. name .. "\n")
      assert.matches("no_" .. name .. "/pipeline.lua:2: '" .. name .. "' is not available in pipeline scripts", err, 1, true)
    end)
  end

  it("reaches no forbidden global through _G", function()
    assert.matches("'io' is not available", attempt("via_g", "local x = _G.io\n"), 1, true)
    assert.matches("'os' is not available", attempt("via_g_os", "local x = _G['o' .. 's']\n"), 1, true)
  end)

  it("cannot require C modules or engine internals", function()
    assert.matches("require 'ffi': module not found", attempt("req_ffi", "require('ffi')\n"), 1, true)
    assert.matches("require 'esengine.runtime': module not found", attempt("req_rt", "require('esengine.runtime')\n"), 1, true)
    assert.matches("require 'esengine.sandbox': module not found", attempt("req_sb", "require('esengine.sandbox')\n"), 1, true)
    assert.matches("require 'io': module not found", attempt("req_io", "require('io')\n"), 1, true)
  end)

  it("refuses require paths that leave the pipeline folder", function()
    write("secret.lua", "return 'secret'")
    for i, name in ipairs({ "../secret", "..secret", ".secret", "a/../../secret", "/etc/passwd", "a\\\\b" }) do
      local err = attempt("escape" .. i, "require('" .. name .. "')\n")
      assert.matches("escape" .. i .. "/pipeline.lua:2: require '", err, 1, true)
      assert.matches("refused", err, 1, true)
    end
  end)

  it("has no string.dump, even through the string metatable", function()
    assert.matches("attempt to call field 'dump'", attempt("dump", "string.dump(function() end)\n"), 1, true)
    assert.matches("function expected", attempt("dump_meta", "local s = ('x'):dump()\n"), 1, true)
  end)

  it("forbids writing undeclared globals, with the file and line", function()
    local err = attempt("global_write", "\nx = 1\n")
    assert.matches("global_write/pipeline.lua:3: assignment to undeclared global 'x'", err, 1, true)
    write("global_module/utils/leaky.lua", "function helper() end\nreturn {}")
    err = attempt("global_module", "require('utils.leaky')\n")
    assert.matches("global_module/utils/leaky.lua:1: assignment to undeclared global 'helper'", err, 1, true)
  end)

  it("protects the environment's metatable", function()
    assert.matches("cannot change a protected metatable", attempt("env_mt", "setmetatable(_G, {})\n"), 1, true)
    assert.matches("attempt to index a nil value", attempt("string_mt", "getmetatable('').__index.upper = nil\n"), 1, true)
  end)

  it("gives each pipeline its own string, table, math and library tables", function()
    local upper, insert, floor = string.upper, table.insert, math.floor
    pipeline("mutator", [[
string.upper = function() return "pwned" end
string.extra = true
table.insert = nil
math.floor = nil
local es2 = require("esengine")
es2.event = nil
es2.schema.string = nil
require("esengine.schema").integer = nil
require("cjson").encode_keep_buffer(false)
require("cjson").encode = nil
]])
    pipeline("victim", [[
assert(string.upper("a") == "A", "string.upper changed")
assert(("a"):upper() == "A", "string methods changed")
assert(string.extra == nil, "string.extra leaked")
assert(table.insert and math.floor, "table/math changed")
assert(es.event and es.schema.string and es.schema.integer, "es changed")
assert(require("cjson").encode({}) == "{}", "cjson changed")
]])
    assert.truthy(sandbox.load(root, "mutator"))
    assert.truthy(sandbox.load(root, "victim"))
    assert.equal(upper, string.upper)
    assert.equal(insert, table.insert)
    assert.equal(floor, math.floor)
    assert.is_nil(string.extra)
    local es = require("esengine")
    assert.is_function(es.event)
    assert.is_function(es.schema.string)
    assert.is_function(es.schema.integer)
  end)

  it("shares no protected metatables", function()
    pipeline("meta", [[
assert(getmetatable(es.schema.string()) == "es.schema")
assert(getmetatable(es.stores.table("t")) == "es.stores.table")
assert(not pcall(setmetatable, es.schema.string(), {}))
]])
    assert.truthy(sandbox.load(root, "meta"))
  end)

  it("routes print to es.log", function()
    local host = require("esengine.host")
    local real_log, lines = host.log, {}
    host.log = function(level, message) lines[#lines + 1] = level .. " " .. message end
    pipeline("printer", "print('hello', 1)\nes.log.warn('%s=%d', 'n', 2)\n")
    local ok, err = pcall(sandbox.load, root, "printer")
    host.log = real_log
    assert.is_true(ok, err)
    assert.same({ "info hello\t1", "warn n=2" }, lines)
  end)

  it("reports syntax errors, runtime errors and bad results with the file", function()
    write("syntax/pipeline.lua", "local x = = 1\n")
    assert.matches("syntax/pipeline.lua:1: unexpected symbol near '='", load_error("syntax"), 1, true)
    write("syntax_mod/broken.lua", "return {\n")
    assert.matches("syntax_mod/broken.lua:2:", attempt("syntax_mod", "require('broken')\n"), 1, true)
    assert.matches("runtime/pipeline.lua:2: boom", attempt("runtime", "error('boom')\n"), 1, true)
    write("nothing/pipeline.lua", "return 42\n")
    assert.matches("nothing/pipeline.lua: must return the built pipeline", load_error("nothing"), 1, true)
    assert.matches("missing/pipeline.lua: cannot read file", load_error("missing"), 1, true)
    assert.matches("require 'nope': module not found", attempt("notfound", "require('nope')\n"), 1, true)
    write("loop/a.lua", "return require('b')")
    write("loop/b.lua", "return require('a')")
    assert.matches("circular require", attempt("loop", "require('a')\n"), 1, true)
  end)

  it("never JIT-compiles pipeline code, so the time limit's hook reaches every loop", function()
    local util, vmdef = require("jit.util"), require("jit.vmdef")
    -- The loop instructions of fn after it ran hot: ILOOP when the JIT may
    -- not touch it, JLOOP once compiled.
    local function loop_ops(fn)
      local ops = {}
      for pc = 1, 1000 do
        local ins = util.funcbc(fn, pc)
        if not ins then break end
        local op = ins % 256
        local name = (vmdef.bcnames:sub(op * 6 + 1, op * 6 + 6):gsub("%s+$", ""))
        if name:find("LOOP$") then ops[#ops + 1] = name end
      end
      return table.concat(ops, ",")
    end
    write("nojit/pipeline.lua", [[
local es = require("esengine")
local function spin(s) local i = 0 while i < 200000 do i = i + 1 end return s end
return es.define_pipeline():with_name("nojit"):with_aggregate_type("nojit")
  :with_fold_projection("f", { init = function() return {} end, apply = spin })
  :build()
]])
    local apply = sandbox.load(root, "nojit").folds.f.apply
    for _ = 1, 3 do apply({}) end
    assert.equal("ILOOP", loop_ops(apply))
    -- The same loop outside the sandbox is compiled.
    local function spin(s) local i = 0 while i < 200000 do i = i + 1 end return s end
    for _ = 1, 3 do spin({}) end
    assert.equal("JLOOP", loop_ops(spin))
  end)

  it("gives pipeline code no way to re-arm its time limit", function()
    assert.matches("require 'esengine.host': module not found", attempt("rearm_host", "require('esengine.host')\n"), 1, true)
    assert.matches("require 'esengine.core': module not found", attempt("rearm_core", "require('esengine.core')\n"), 1, true)
  end)

  it("builds errors as file:line of the faulty with_* call", function()
    write("badfold/pipeline.lua", [[
local es = require("esengine")
return es.define_pipeline()
  :with_name("badfold")
  :with_aggregate_type("badfold")
  :with_fold_projection("f", { init = function() return {} end })
  :build()
]])
    assert.matches("badfold/pipeline.lua:5: pipeline 'badfold': fold projection 'f' is missing apply", load_error("badfold"), 1, true)
  end)
end)
