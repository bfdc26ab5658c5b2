-- core_spec.lua: the engine end to end on one machine (issue 2), against the
-- real binary and the embedded SQLite store: check, run, concurrent send
-- --wait, kill -9 mid-way and restart, exactly-once folds in seq order, map
-- records all present, parked groups in status, bad payloads exit 2.
-- Scale with ESENGINE_SPEC_COMMANDS (default 4000) and _AGGREGATES (40).
local h = require("spec.functional.helpers")

local COMMANDS = tonumber(os.getenv("ESENGINE_SPEC_COMMANDS")) or 4000
local AGGREGATES = tonumber(os.getenv("ESENGINE_SPEC_AGGREGATES")) or 40
local SENDERS = 4

describe("esengine on the embedded store", function()
  local dir, flags, runner

  local function start_runner(extra)
    runner = h.spawn_exec(h.bin .. " run " .. flags .. " --workers 2 --lease-ms 2000 --listen 127.0.0.1:0 " ..
      "--max-attempts 3 --retry-base-ms 50 " .. (extra or ""), dir .. "/run.log")
    h.wait_until("the engine to start", 20, function()
      local f = io.open(dir .. "/run.log")
      local text = f and f:read("*a") or ""
      if f then f:close() end
      return text:find("running role", 1, true)
    end)
  end

  before_each(function()
    dir = h.tmpdir()
    flags = "--pipelines " .. h.q(h.fixtures) .. " --data " .. h.q(dir .. "/data")
  end)

  after_each(function()
    if runner and h.alive(runner) then
      h.kill(runner, "TERM")
      assert.is_true(h.wait_exit(runner, 30), "engine did not stop on SIGTERM")
    end
    runner = nil
    if os.getenv("KEEP") then print("kept " .. dir) else h.rmdir(dir) end
  end)

  it("check validates the pipelines", function()
    local code, out = h.esengine("check --pipelines " .. h.q(h.fixtures))
    assert.equal(0, code)
    assert.truthy(out:find("ledger: aggregate account", 1, true))
  end)

  it("check names file and line of a broken pipeline and exits 2", function()
    local broken = dir .. "/pipelines/broken"
    h.sh("mkdir -p " .. h.q(broken) .. " && printf 'local es = require(\"esengine\")\\nreturn es.define_pipeline():with_name(\"b\"):build(\\n' > " .. h.q(broken .. "/pipeline.lua"))
    local code, _, err = h.esengine("check --pipelines " .. h.q(dir .. "/pipelines"))
    assert.equal(2, code)
    assert.truthy(err:find("pipeline.lua:%d+:"), err)
  end)

  it("rejects a bad payload with exit 2 naming the field", function()
    local code, _, err = h.esengine("send ledger deposit '{\"account\":\"a\",\"amount\":\"ten\"}' --tenant t1 " .. flags)
    assert.equal(2, code)
    assert.truthy(err:find("amount: expected integer, got string", 1, true), err)
    code, _, err = h.esengine("send ledger nope '{}' --tenant t1 " .. flags)
    assert.equal(3, code)
    assert.truthy(err:find("nope", 1, true), err)
    code, _, err = h.esengine("send ledger deposit '{not json' --tenant t1 " .. flags)
    assert.equal(2, code)
  end)

  it("folds every command exactly once, in order, across kill -9 and restart", function()
    -- Each sender writes its payloads as JSON lines and sends them in one
    -- process with --wait.
    local expected = {}
    local senders = {}
    for s = 1, SENDERS do
      local path = dir .. "/payloads-" .. s .. ".jsonl"
      local f = assert(io.open(path, "w"))
      for i = s, COMMANDS, SENDERS do
        local account = "acct-" .. (i % AGGREGATES)
        local amount = (i % 7) + 1
        local e = expected[account] or { count = 0, total = 0 }
        e.count, e.total = e.count + 1, e.total + amount
        expected[account] = e
        f:write(string.format('{"account":"%s","amount":%d,"n":%d}\n', account, amount, i))
      end
      f:close()
      senders[s] = h.spawn(h.bin .. " send ledger deposit - --tenant t1 --wait=300 " .. flags ..
        " < " .. h.q(path) .. "; echo \"exit=$?\" > " .. h.q(path .. ".done"), dir .. "/send-" .. s .. ".log")
    end

    start_runner()
    -- Kill the engine once part of the work is folded, then restart it.
    h.wait_until("some folds to be stored", 120, function()
      local code = h.esengine("state ledger balance acct-1 --tenant t1 " .. flags)
      return code == 0
    end)
    h.kill(runner, "KILL")
    assert.is_true(h.wait_exit(runner, 10))
    start_runner()

    for s = 1, SENDERS do
      local done = dir .. "/payloads-" .. s .. ".jsonl.done"
      local status = h.wait_until("sender " .. s .. " to finish", 300, function()
        local f = io.open(done)
        if not f then return nil end
        local text = f:read("*a")
        f:close()
        return text:match("exit=(%d+)")
      end)
      assert.equal("0", status, "sender " .. s .. " failed")
    end

    for account, e in pairs(expected) do
      local code, out, err = h.esengine("state ledger balance " .. account .. " --tenant t1 " .. flags)
      assert.equal(0, code, err)
      local state = h.json(out)
      assert.same({ count = e.count, total = e.total, last_seq = e.count, in_order = true }, state)
    end
    -- send --wait covers commands and folds; map records follow shortly.
    h.wait_until("every map record", 120, function()
      local _, records = h.esengine("records ledger entries --tenant t1 " .. flags)
      local n = #h.lines(records)
      assert.is_true(n <= COMMANDS, "more records than commands: " .. n)
      return n == COMMANDS
    end)
    -- Another tenant sees nothing of t1.
    local code = h.esengine("state ledger balance acct-1 --tenant t2 " .. flags)
    assert.equal(3, code)
    local _, other = h.esengine("events account acct-1 --tenant t2 " .. flags)
    assert.equal("", other)
  end)

  it("skips only the failed event of a parked multi-event fold job", function()
    -- one command, five events: one fold job of five events, whose third
    -- always fails
    flags = "--pipelines spec/lua/fixtures/batched --data " ..
      h.q(dir .. "/data")
    start_runner()
    assert.equal(0, (h.esengine("send ledger post '{\"account\":\"p\",\"amounts\":[1,2,3,4,5]," ..
      "\"fail\":\"fold!\",\"fail_at\":3}' --tenant t1 " .. flags)))
    local listing = h.wait_until("the fold group to be parked", 60, function()
      local _, out = h.esengine("parked list " .. flags)
      return out:find("every time", 1, true) and out
    end)
    assert.equal(0, (h.esengine("parked skip " .. h.q(listing:match("^(%S+)")) .. " " .. flags)))
    local state = h.wait_until("the other four events to be folded", 30, function()
      local code, out = h.esengine("state ledger balance p --tenant t1 " .. flags)
      return code == 0 and h.json(out).total == 12 and h.json(out)
    end)
    assert.same({ 1, 2, 4, 5 }, state.applied)
  end)

  it("parks a failing group, shows it in status and parked, and skips it", function()
    start_runner()
    local code = h.esengine("send ledger explode '{\"account\":\"boom\"}' --tenant t1 " .. flags)
    assert.equal(0, code)
    code = h.esengine("send ledger deposit '{\"account\":\"boom\",\"amount\":1}' --tenant t1 " .. flags)
    assert.equal(0, code)
    h.wait_until("the group to be parked", 60, function()
      local _, out = h.esengine("status --json " .. flags)
      for _, line in ipairs(h.lines(out)) do
        local row = h.json(line)
        if row.component == "explode" and row.parked_groups > 0 then return true end
      end
    end)
    local _, listing = h.esengine("parked list " .. flags)
    assert.truthy(listing:find("explode refused account boom", 1, true), listing)
    -- The deposit behind the parked head waits: no state yet.
    assert.equal(3, (h.esengine("state ledger balance boom --tenant t1 " .. flags)))
    local group = listing:match("^(%S+)")
    assert.equal(0, (h.esengine("parked skip " .. h.q(group) .. " " .. flags)))
    h.wait_until("the deposit behind it to be folded", 30, function()
      return h.esengine("state ledger balance boom --tenant t1 " .. flags) == 0
    end)
  end)
end)
