-- ops_spec.lua: operating projections on the embedded backend (issue 8):
-- the kill switch (pause/resume per tenant), replay while commands arrive,
-- and a replay killed with -9 then resumed. Asserts from state, with
-- deadlines, never from sleeps.
local h = require("spec.functional.helpers")
local fx = require("spec.functional.fixtures")

-- The pipeline of these specs (spec/functional/fixtures.lua): deposit_many
-- appends `count` events of `amount` to one account; the fold counts, sums
-- and checks seq order; spin > 0 slows the fold down.
local function write_pipeline(dir, spin)
  fx.write_bank_pipeline(dir .. "/pipelines", spin)
end

local function setup()
  local dir = h.tmpdir()
  write_pipeline(dir, 0)
  return dir
end

local function flags(dir)
  return " --pipelines " .. h.q(dir .. "/pipelines") .. " --data " .. h.q(dir .. "/data")
end

local function send(dir, tenant, account, amount, count)
  local payload = string.format('{"account":"%s","amount":%d,"count":%d}', account, amount, count)
  local code, _, err = h.esengine("send bank deposit_many " .. h.q(payload) .. " --tenant " .. tenant .. flags(dir))
  assert.are.equal(0, code, err)
end

local function state(dir, tenant, account)
  return fx.bank_state(flags(dir), tenant, account)
end

-- Waits until every account of `expected` ({account = {count, total}}) has
-- that state, in order.
local function wait_states(dir, tenant, expected, seconds)
  fx.wait_bank_states(flags(dir), tenant, expected, seconds)
end

local function start_engine(dir)
  return h.spawn_exec(h.bin .. " run --workers 2 --listen 127.0.0.1:0" .. flags(dir), dir .. "/run.log")
end

local function stop_engine(pid)
  h.kill(pid, "TERM")
  assert.is_true(h.wait_exit(pid, 20))
end

describe("kill switch", function()
  local dir, pid
  before_each(function() dir = setup() end)
  after_each(function()
    if pid and h.alive(pid) then h.kill(pid, "KILL") end
    h.rmdir(dir)
  end)

  it("holds one tenant's fold while others flow, then resumes in order", function()
    pid = start_engine(dir)
    local code, out, err = h.esengine("pause bank/balance --tenant t1" .. flags(dir))
    assert.are.equal(0, code, err)
    assert.matches("paused", out)
    local expected = {}
    for i = 1, 10 do
      local account = "acc" .. (i % 3)
      send(dir, "t1", account, i, 2)
      send(dir, "t2", account, i, 2)
      local e = expected[account] or { count = 0, total = 0 }
      e.count, e.total = e.count + 2, e.total + 2 * i
      expected[account] = e
    end
    wait_states(dir, "t2", expected, 30)
    -- t1's commands were handled (events appended) but nothing was folded
    h.wait_until("t1 commands handled", 30, function()
      local _, events = h.esengine("events account acc1 --tenant t1" .. flags(dir))
      return #h.lines(events) == expected.acc1.count
    end)
    for account in pairs(expected) do assert.is_nil(state(dir, "t1", account)) end
    local _, status = h.esengine("status --json" .. flags(dir))
    assert.matches('"pause":{"pipeline":"bank","component":"balance","tenant_id":"t1"', status, 1, true)

    code, _, err = h.esengine("resume bank/balance --tenant t1" .. flags(dir))
    assert.are.equal(0, code, err)
    wait_states(dir, "t1", expected, 30)
    stop_engine(pid)
  end)

  it("refuses commands with --reject and names the pause", function()
    local code = h.esengine("pause bank --reject" .. flags(dir))
    assert.are.equal(0, code)
    local payload = '{"account":"a","amount":1,"count":1}'
    local c2, _, err = h.esengine("send bank deposit_many " .. h.q(payload) .. " --tenant t1" .. flags(dir))
    assert.are_not.equal(0, c2)
    assert.matches("paused with %-%-reject", err)
    assert.are.equal(0, (h.esengine("resume bank" .. flags(dir))))
    assert.are.equal(0, (h.esengine("send bank deposit_many " .. h.q(payload) .. " --tenant t1" .. flags(dir))))
  end)

  it("pauses in the mode the pipeline's :with_kill_switch declares unless told", function()
    h.sh("mkdir -p " .. h.q(dir .. "/pipelines/guarded"))
    local f = assert(io.open(dir .. "/pipelines/guarded/pipeline.lua", "w"))
    f:write([[
local es = require("esengine")
return es.define_pipeline()
  :with_name("guarded")
  :with_aggregate_type("vault")
  :with_command("touch", {
    schema = es.schema.object({ id = es.schema.string() }),
    aggregate_id = function(p) return p.id end,
    handle = function() return { es.event("vault.touched", {}) } end,
  })
  :with_kill_switch({ mode = "reject" })
  :build()
]])
    f:close()
    local touch = "send guarded touch '{\"id\":\"v1\"}' --tenant t1" .. flags(dir)
    local code, out = h.esengine("pause guarded" .. flags(dir))
    assert.are.equal(0, code)
    assert.matches("(reject)", out, 1, true)
    local c2, _, err = h.esengine(touch)
    assert.are_not.equal(0, c2)
    assert.matches("paused with %-%-reject", err)
    assert.are.equal(0, (h.esengine("resume guarded" .. flags(dir))))
    -- --hold overrides the declared mode: commands are accepted and held
    code, out = h.esengine("pause guarded --hold" .. flags(dir))
    assert.are.equal(0, code)
    assert.matches("(hold)", out, 1, true)
    assert.are.equal(0, (h.esengine(touch)))
    assert.are.equal(2, (h.esengine("pause guarded --hold --reject" .. flags(dir))))
  end)
end)

describe("replay", function()
  local dir, pid
  local ACCOUNTS, PER_ACCOUNT = 40, 500 -- 20,000 events

  -- 40 commands of 500 events, folded by a running engine.
  local function load_log()
    local expected = {}
    for a = 1, ACCOUNTS do
      send(dir, "t1", "acc" .. a, a, PER_ACCOUNT)
      expected["acc" .. a] = { count = PER_ACCOUNT, total = a * PER_ACCOUNT }
    end
    return expected
  end

  before_each(function() dir = setup() end)
  after_each(function()
    if pid and h.alive(pid) then h.kill(pid, "KILL") end
    h.rmdir(dir)
  end)

  it("rebuilds a fold while 2,000 new events arrive: equal to a clean fold of the log", function()
    pid = start_engine(dir)
    local expected = load_log()
    wait_states(dir, "t1", expected, 120)
    -- 200 commands of 10 events each, sent while the replay runs
    local sender = h.spawn(string.format(
      "for i in $(seq 1 200); do %s send bank deposit_many " ..
      "\"{\\\"account\\\":\\\"acc$(( (i %% %d) + 1 ))\\\",\\\"amount\\\":1,\\\"count\\\":10}\" --tenant t1 %s " ..
      ">/dev/null || exit 1; done", h.bin, ACCOUNTS, flags(dir)))
    local code, out, err = h.esengine("replay bank balance --page-events 1000" .. flags(dir))
    assert.are.equal(0, code, err)
    assert.matches("replayed bank/balance", out)
    assert.is_true(h.wait_exit(sender, 120))
    for i = 1, 200 do
      local e = expected["acc" .. ((i % ACCOUNTS) + 1)]
      e.count, e.total = e.count + 10, e.total + 10
    end
    wait_states(dir, "t1", expected, 120)
    -- and a second replay of the quiet log changes nothing
    code, out = h.esengine("replay bank balance --dry-run --json" .. flags(dir))
    assert.are.equal(0, code)
    assert.is_nil(out:find('"differs":true', 1, true))
    stop_engine(pid)
  end)

  it("resumes from its checkpoint after kill -9", function()
    pid = start_engine(dir)
    local expected = load_log()
    wait_states(dir, "t1", expected, 120)
    stop_engine(pid)
    write_pipeline(dir, 20000) -- same fold, slower: the replay takes seconds
    local log = dir .. "/replay.log"
    local rpid = h.spawn_exec(h.bin .. " replay bank balance --json --page-events 200" .. flags(dir), log)
    h.wait_until("replay progress", 60, function()
      local f = io.open(log)
      local text = f and f:read("*a") or ""
      if f then f:close() end
      return text:find('"phase":"scan"', 1, true) or not h.alive(rpid)
    end)
    h.kill(rpid, "KILL")
    h.wait_exit(rpid, 10)
    write_pipeline(dir, 0)
    local code, out, err = h.esengine("replay bank balance --json" .. flags(dir))
    assert.are.equal(0, code, err)
    assert.matches('"replayed":"bank/balance"', out, 1, true)
    assert.matches('"resumed":true', out, 1, true)
    wait_states(dir, "t1", expected, 30)
    -- nothing left behind: no checkpoint to abort, no pause
    assert.are.equal(3, (h.esengine("replay bank balance --abort" .. flags(dir))))
    local _, status = h.esengine("status --json" .. flags(dir))
    assert.is_nil(status:find('"pause"', 1, true))
  end)
end)
