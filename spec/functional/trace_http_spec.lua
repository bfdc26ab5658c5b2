-- trace_http_spec.lua: the shipped trace pipeline through the real binary
-- and its HTTP endpoint (issue 6's check): every OTLP fixture of
-- spec/pipelines/fixtures posted to POST /v1/traces gives a trace summary
-- equal, field by field, to the hand-computed one; posting every fixture a
-- second time changes nothing (spans are stored once); the daily billable
-- counter of the global usage pipeline counts each span once.
local h = require("spec.functional.helpers")
local cjson = require("cjson")

local FIXTURES = "spec/pipelines/fixtures/"
local expected = dofile(FIXTURES .. "expected_summaries.lua")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- The summary fields the fixtures pin (bookkeeping "_" fields excluded).
local function comparable(state)
  local out = {}
  for k, v in pairs(state) do
    if k:sub(1, 1) ~= "_" then out[k] = v end
  end
  return out
end

-- cjson decodes JSON null as a light userdata; treat it as absent.
local function strip_nulls(t)
  for k, v in pairs(t) do
    if v == cjson.null then t[k] = nil elseif type(v) == "table" then strip_nulls(v) end
  end
  return t
end

describe("the trace pipeline over OTLP/HTTP", function()
  local dir, runner, port, flags

  local function post(path)
    return h.sh("curl -s -o /dev/null -w '%{http_code}' -XPOST -H 'Content-Type: application/json' " ..
      "-H 'X-Tenant-Id: acme' --data-binary @" .. h.q(path) .. " http://127.0.0.1:" .. port .. "/v1/traces")
  end

  local function state_of(trace_id)
    local code, out = h.esengine("state trace_processing trace_summary " .. trace_id .. " --tenant acme " .. flags)
    if code ~= 0 then return nil end
    return strip_nulls(h.json(out))
  end

  setup(function()
    dir = h.tmpdir()
    flags = "--pipelines pipelines --data " .. h.q(dir .. "/data")
    runner = h.spawn_exec(h.bin .. " run " .. flags .. " --workers 2 --listen 127.0.0.1:0",
      dir .. "/run.log")
    -- Port 0: the engine binds a free port and logs it.
    port = h.wait_until("the web role", 30, function()
      local f = io.open(dir .. "/run.log")
      local text = f and f:read("*a") or ""
      if f then f:close() end
      local p = text:match("web role listening on [^\n]*%(port (%d+)%)")
      return p and h.sh("curl -sf http://127.0.0.1:" .. p .. "/healthz") == 0 and p
    end)
  end)

  teardown(function()
    if runner then
      h.kill(runner, "TERM")
      h.wait_exit(runner, 30)
    end
    h.rmdir(dir)
  end)

  it("folds every fixture into its hand-computed summary, also when sent twice", function()
    for round = 1, 2 do
      for name in pairs(expected) do
        local _, status = post(FIXTURES .. name)
        assert.equal("200", status, name .. " round " .. round)
      end
    end
    for name, want in pairs(expected) do
      local got = h.wait_until(name .. " to be folded", 60, function()
        local s = state_of(want.trace_id)
        return s and s.span_count == want.span_count and s
      end)
      assert.same(want, comparable(got), name)
    end
  end)

  it("counts each span once per tenant and day in the global usage fold", function()
    local spans = 0
    for _, want in pairs(expected) do spans = spans + want.span_count end
    local day = os.date("!%Y-%m-%d", 1718000000)
    h.wait_until("the daily counter", 60, function()
      local code, out = h.esengine("state global_usage project_daily_billable_events " ..
        h.q("acme|" .. day) .. " --tenant acme " .. flags)
      if code ~= 0 then return false end
      local s = h.json(out)
      return s.spans == spans
    end)
  end)
end)
