-- reload_spec.lua: hot reload and the limits on pipeline scripts (issue 7),
-- against the real binary on the embedded store: a fold edited while 10,000
-- commands are in flight (every event applied exactly once, by one
-- generation or the other, switching between jobs), a broken edit that
-- keeps the old behaviour, infinite loops in a fold, a map and a command
-- handler stopped within the time limit while other groups keep folding, an
-- allocation bomb stopped by the memory limit, and a sandbox escape from a
-- running handler. Each test runs on its own copy of the ledger fixture.
local h = require("spec.functional.helpers")

local IN_FLIGHT = tonumber(os.getenv("ESENGINE_SPEC_RELOAD_COMMANDS")) or 10000
local ACCOUNTS = 20

local function read(path)
  local f = io.open(path)
  if not f then return "" end
  local text = f:read("*a")
  f:close()
  return text
end

-- Replaces a file the way an editor does (write aside, rename over).
local function write(path, text)
  local f = assert(io.open(path .. ".tmp", "w"))
  f:write(text)
  f:close()
  assert(os.rename(path .. ".tmp", path))
end

local function now_ms()
  local _, out = h.sh("date +%s%3N")
  return tonumber(out)
end

-- The balance fold of the fixture, with `extra` run first in apply and
-- `add` as the amount added per event.
local function balance_fold(extra, add, tag)
  return [[
local es = require("esengine")
return {
  event_types = { "ledger.deposited" },
  store = es.stores.table("balances"),
  init = function() return { count = 0, total = 0, last_seq = 0, in_order = true } end,
  apply = function(state, event)
    ]] .. (extra or "") .. [[

    if event.seq ~= state.last_seq + 1 then state.in_order = false end
    state.last_seq = event.seq
    state.count = state.count + 1
    state.total = state.total + ]] .. (add or "event.data.amount") .. [[

    ]] .. (tag or "") .. [[

    return state
  end,
}
]]
end

describe("hot reload and script limits", function()
  local dir, pipelines, flags, runner, port

  local function start_runner(extra)
    runner = h.spawn_exec(h.bin .. " run " .. flags .. " --workers 2 --lease-ms 2000 --listen 127.0.0.1:0 " ..
      "--max-attempts 2 --retry-base-ms 50 --retry-max-ms 200 " .. (extra or ""), dir .. "/run.log")
    h.wait_until("the engine to start", 20, function()
      return read(dir .. "/run.log"):find("running role", 1, true)
    end)
    port = read(dir .. "/run.log"):match("web role listening on [^\n]*%(port (%d+)%)")
  end

  local function log_count(text)
    local n, from = 0, 1
    local log = read(dir .. "/run.log")
    while true do
      local at = log:find(text, from, true)
      if not at then return n end
      n, from = n + 1, at + 1
    end
  end

  local function state(account)
    local code, out = h.esengine("state ledger balance " .. account .. " --tenant t1 " .. flags)
    return code == 0 and h.json(out) or nil
  end

  local function deposit(account, amount, wait)
    return h.esengine("send ledger deposit " .. h.q(string.format('{"account":"%s","amount":%d}', account, amount)) ..
      " --tenant t1 " .. (wait and "--wait=60 " or "") .. flags)
  end

  -- A deposit through the running engine's HTTP API (validated by the
  -- generation it runs, unlike `send`, which loads the pipelines itself).
  local function deposit_http(account, amount)
    local _, out = h.sh("curl -s -o /dev/null -w '%{http_code}' --max-time 20 -X POST -H 'X-Tenant-Id: t1' " ..
      "-H 'Content-Type: application/json' -d " .. h.q(string.format('{"account":"%s","amount":%d}', account, amount)) ..
      " http://127.0.0.1:" .. port .. "/api/commands/ledger/deposit")
    return tonumber(out)
  end

  -- The fold state as the running engine serves it (the CLI, like send,
  -- would load the pipelines from disk).
  local function state_http(account)
    local _, out = h.sh("curl -s --max-time 20 -H 'X-Tenant-Id: t1' http://127.0.0.1:" .. port ..
      "/api/state/ledger/balance/" .. account)
    local ok, v = pcall(h.json, out)
    return ok and type(v) == "table" and (v.state or v) or nil
  end

  local function parked_listing()
    local _, out = h.esengine("parked list " .. flags)
    return out
  end

  before_each(function()
    dir = h.tmpdir()
    pipelines = dir .. "/pipelines"
    h.sh("cp -r " .. h.q(h.fixtures) .. " " .. h.q(pipelines))
    flags = "--pipelines " .. h.q(pipelines) .. " --data " .. h.q(dir .. "/data")
  end)

  after_each(function()
    if runner and h.alive(runner) then
      h.kill(runner, "TERM")
      assert.is_true(h.wait_exit(runner, 30), "engine did not stop on SIGTERM")
    end
    runner = nil
    if os.getenv("ESENGINE_SPEC_KEEP") then print("kept " .. dir) else h.rmdir(dir) end
  end)

  it("applies every event exactly once across a fold edited while 10,000 commands are in flight", function()
    local path = dir .. "/payloads.jsonl"
    local f = assert(io.open(path, "w"))
    local expected = {}
    for i = 1, IN_FLIGHT do
      local account = "acct-" .. (i % ACCOUNTS)
      expected[account] = (expected[account] or 0) + 1
      f:write(string.format('{"account":"%s","amount":1,"n":%d}\n', account, i))
    end
    f:close()
    assert.equal(0, (h.esengine("send ledger deposit - --tenant t1 " .. flags .. " < " .. h.q(path))))

    start_runner()
    h.wait_until("the first folds", 60, function() return state("acct-1") end)
    local before = h.json(read(dir .. "/data/esengine.status.json"))
    -- Generation 2 adds 1000 per event, records where it took over, and
    -- declares a new fold version.
    write(pipelines .. "/ledger/projections/balance.lua", (balance_fold(nil, "event.data.amount * 1000",
      "state.gen2 = (state.gen2 or 0) + 1; state.gen2_from = state.gen2_from or event.seq")
      :gsub("store = ", 'version = "2026-01-01",\n  store = ')))
    h.wait_until("the reload", 30, function() return log_count("reloaded ") >= 1 end)
    local after = h.json(read(dir .. "/data/esengine.status.json"))
    assert.is_false(before.pipelines.ledger.folds.balance.needs_replay)
    assert.is_true(after.pipelines.ledger.folds.balance.needs_replay)
    assert.equal("2026-01-01", after.pipelines.ledger.folds.balance.version)
    assert.are_not.equal(before.pipelines.ledger.hash, after.pipelines.ledger.hash)
    assert.is_true(after.pipelines.ledger.loaded_at >= before.pipelines.ledger.loaded_at)
    assert.is_true(after.last_reload.ok)
    -- A fast engine may have folded the whole first batch before the reload
    -- landed: commands sent now are certainly folded by generation 2.
    local more = dir .. "/payloads-after.jsonl"
    f = assert(io.open(more, "w"))
    for i = 1, ACCOUNTS * 10 do
      local account = "acct-" .. (i % ACCOUNTS)
      expected[account] = expected[account] + 1
      f:write(string.format('{"account":"%s","amount":1,"n":%d}\n', account, IN_FLIGHT + i))
    end
    f:close()
    assert.equal(0, (h.esengine("send ledger deposit - --tenant t1 " .. flags .. " < " .. h.q(more))))

    local switched = 0
    for account, count in pairs(expected) do
      local s = h.wait_until(account .. " to be folded", 300, function()
        local s = state(account)
        return s and s.count == count and s
      end)
      local b = s.gen2 or 0
      local a = count - b
      assert.equal(count, s.last_seq)
      assert.is_true(s.in_order, account .. " folded out of order")
      assert.equal(a + 1000 * b, s.total, account .. ": each event applied once, by one generation")
      if b > 0 then
        -- The switch is clean: seq 1..gen2_from-1 by the old code, the rest by the new.
        assert.equal(a + 1, s.gen2_from, account .. " went back to the old generation")
        switched = switched + 1
      end
    end
    assert.equal(ACCOUNTS, switched, "every aggregate reaches the new generation")
    h.wait_until("every map record", 120, function()
      local _, records = h.esengine("records ledger entries --tenant t1 " .. flags)
      return #h.lines(records) == IN_FLIGHT + ACCOUNTS * 10
    end)
  end)

  it("holds the jobs of a removed pipeline and resumes them when it is back", function()
    start_runner()
    local aside = dir .. "/aside"
    h.sh("mkdir -p " .. h.q(aside))
    assert(os.rename(pipelines .. "/ledger", aside .. "/ledger"))
    h.wait_until("the reload", 30, function() return log_count("reloaded ") >= 1 end)
    -- Sent with the folder that has it: the running engine no longer loads it.
    local aside_flags = "--pipelines " .. h.q(aside) .. " --data " .. h.q(dir .. "/data")
    for i = 1, 5 do
      assert.equal(0, (h.esengine("send ledger deposit " .. h.q(string.format('{"account":"gone","amount":%d}', i)) ..
        " --tenant t1 " .. aside_flags)))
    end
    h.wait_until("the pipeline to be held", 30, function()
      local _, out = h.esengine("status --json " .. aside_flags)
      return out:find('"pause"', 1, true) and out:find('"ledger"', 1, true)
    end)
    assert.equal(0, log_count("parked after"))
    -- Nothing folded while held (read with the folder that has the pipeline).
    assert.equal(3, (h.esengine("state ledger balance gone --tenant t1 " .. aside_flags)))
    assert(os.rename(aside .. "/ledger", pipelines .. "/ledger"))
    local s = h.wait_until("the held jobs to be folded", 60, function()
      local st = state("gone")
      return st and st.count == 5 and st
    end)
    assert.same({ count = 5, total = 15, last_seq = 5, in_order = true }, s)
    assert.truthy(read(dir .. "/run.log"):find("loaded again", 1, true))
  end)

  it("keeps the old behaviour after a broken edit and says why", function()
    start_runner()
    assert.equal(0, (deposit("acct", 5, true)))
    write(pipelines .. "/ledger/projections/balance.lua", "return {\n  apply = function(state, event)\n")
    h.wait_until("the reload to be refused", 30, function() return log_count("refused") >= 1 end)
    assert.truthy(read(dir .. "/run.log"):find("balance.lua:3:", 1, true), read(dir .. "/run.log"))
    local report = h.wait_until("the status file to show the refusal", 10, function()
      local r = h.json(read(dir .. "/data/esengine.status.json"))
      return not r.last_reload.ok and r
    end)
    assert.truthy(report.last_reload.error:find("balance.lua:3:", 1, true))
    assert.truthy(report.pipelines.ledger.hash)
    -- `send` loads the broken files itself and refuses; the engine does not.
    assert.equal(2, (deposit("acct", 7, true)))
    assert.equal(202, deposit_http("acct", 7))
    h.wait_until("the old fold to apply the deposit", 30, function()
      local s = state_http("acct")
      return s and s.count == 2
    end)
    assert.same({ count = 2, total = 12, last_seq = 2, in_order = true }, state_http("acct"))
    -- A definition missing a required function is refused too.
    write(pipelines .. "/ledger/projections/balance.lua", (balance_fold(nil, "1"):gsub("apply = ", "apply_ = ")))
    h.wait_until("the second refusal", 30, function() return log_count("refused") >= 2 end)
    assert.truthy(read(dir .. "/run.log"):find("missing", 1, true))
    assert.equal(202, deposit_http("acct", 1))
    h.wait_until("the old fold to apply it", 30, function() return state_http("acct").count == 3 end)
    assert.equal(13, state_http("acct").total)
  end)

  it("stops infinite loops in a fold, a map and a command within the limit while other groups flow", function()
    local limit_ms = 3000
    write(pipelines .. "/ledger/projections/balance.lua",
      balance_fold("if event.data.amount == 666 then es.log.info('loop starts') while true do end end"))
    local entries = read(pipelines .. "/ledger/projections/entries.lua")
    write(pipelines .. "/ledger/projections/entries.lua", (entries:gsub("map = function%(event%)",
      "map = function(event)\n    if event.data.amount == 555 then while true do pcall(function() while true do end end) end end")))
    local deposit_cmd = read(pipelines .. "/ledger/commands/deposit.lua")
    write(pipelines .. "/ledger/commands/deposit.lua", (deposit_cmd:gsub("handle = function%(command%)",
      "handle = function(command)\n    if command.data.amount == 444 then local i = 0 while true do i = i + 1 end end")))
    start_runner("--handler-timeout-ms " .. limit_ms)

    assert.equal(0, (deposit("stuck", 666)))
    h.wait_until("the fold to loop", 20, function() return log_count("loop starts") >= 1 end)
    local looping_at = now_ms()
    -- Meanwhile another aggregate folds on the other worker.
    assert.equal(0, (deposit("other", 3, true)))
    local folded_at = now_ms()
    assert.same({ count = 1, total = 3, last_seq = 1, in_order = true }, state("other"))
    h.wait_until("the looping fold to fail", 20, function() return log_count("handler timed out") >= 1 end)
    local failed_at = now_ms()
    assert.is_true(folded_at < failed_at, "the other aggregate waited for the loop")
    assert.is_true(failed_at - looping_at <= limit_ms + 1000,
      "the loop ran " .. (failed_at - looping_at) .. " ms against a limit of " .. limit_ms .. " ms")

    -- The map (catching the timeout with pcall) and the command handler too.
    assert.equal(0, (deposit("mapped", 555)))
    assert.equal(0, (deposit("commanded", 444)))
    local listing = h.wait_until("all three to be parked", 60, function()
      local out = parked_listing()
      local _, n = out:gsub("handler timed out", "")
      return n >= 3 and out
    end)
    assert.truthy(listing:find("pipeline ledger fold balance", 1, true), listing)
    assert.truthy(listing:find("pipeline ledger map entries", 1, true), listing)
    assert.truthy(listing:find("pipeline ledger command deposit", 1, true), listing)
    assert.truthy(listing:find("balance.lua:%d+"), listing)
    -- The engine lives on, with rebuilt states.
    assert.is_true(h.alive(runner))
    assert.truthy(log_count("Lua state rebuilt after the time limit") >= 1)
    assert.equal(0, (deposit("other", 4, true)))
    assert.equal(7, state("other").total)
  end)

  it("fails an allocation bomb on the memory limit and rebuilds the state", function()
    write(pipelines .. "/ledger/projections/balance.lua", balance_fold(
      "if event.data.amount == 777 then local t, i = {}, 0 while true do i = i + 1; t[i] = string.rep('x', 1000) .. i end end"))
    start_runner("--lua-memory-mb 64 --handler-timeout-ms 60000")
    assert.equal(0, (deposit("bomb", 777)))
    local listing = h.wait_until("the bomb to be parked", 60, function()
      local out = parked_listing()
      return out:find("memory limit", 1, true) and out
    end)
    assert.truthy(listing:find("pipeline ledger fold balance", 1, true), listing)
    assert.truthy(listing:find("Lua memory limit of 64 MB reached", 1, true), listing)
    assert.is_true(h.alive(runner))
    assert.truthy(log_count("Lua state rebuilt after the memory limit") >= 1)
    assert.equal(0, (deposit("fine", 2, true)))
    assert.equal(2, state("fine").total)
  end)

  it("fails a handler that tries to escape the sandbox, and the engine is unchanged", function()
    write(pipelines .. "/ledger/projections/balance.lua", balance_fold([[
    if event.data.amount == 13 then
      local ok = pcall(function() return io.open("/etc/passwd") end)
      assert(not ok)
      os.exit(1)
    end]]))
    start_runner()
    assert.equal(0, (deposit("escape", 13)))
    local listing = h.wait_until("the escape to be parked", 60, function()
      local out = parked_listing()
      return out:find("not available in pipeline scripts", 1, true) and out
    end)
    assert.truthy(listing:find("'os' is not available", 1, true), listing)
    assert.is_true(h.alive(runner))
    assert.equal(0, (deposit("ok", 1, true)))
  end)
end)
