-- redis_pause_spec.lua: the kill switch (issue 8) with the queue in Redis:
-- the pause lives in Redis, so every worker process of a fleet honours it.
-- A redis-server of its own (free loopback port, temp dir), two worker
-- processes of two threads, events and folds in the embedded SQLite they
-- share; `pause`, `resume` and `send` are separate CLI processes.
-- Asserts from state, with deadlines, never from sleeps.
local h = require("spec.functional.helpers")

local WORKERS = 2

local servers = require("spec.functional.servers")
local fx = require("spec.functional.fixtures")
local read_file = servers.read_file

describe("kill switch with Redis queues", function()
  local dir, flags, redis, workers

  before_each(function()
    dir = h.tmpdir()
    -- the bank pipeline of spec/functional/fixtures.lua: deposit_many
    -- appends `count` events of `amount` to one account; the fold counts,
    -- sums and checks seq order
    fx.write_bank_pipeline(dir .. "/pipelines")
    redis = servers.redis(dir)
    servers.redis_start(redis)
    flags = " --pipelines " .. h.q(dir .. "/pipelines") .. " --data " .. h.q(dir .. "/data") ..
      " --redis " .. servers.redis_url(redis)
    workers = {}
  end)

  after_each(function()
    for _, pid in ipairs(workers) do
      if h.alive(pid) then h.kill(pid, "TERM") end
    end
    for _, pid in ipairs(workers) do
      if not h.wait_exit(pid, 20) then h.kill(pid, "KILL") end
    end
    servers.redis_stop(redis)
    h.rmdir(dir)
  end)

  local function start_workers()
    for i = 1, WORKERS do
      local log = dir .. "/worker-" .. i .. ".log"
      workers[i] = h.spawn_exec(h.bin .. " run --role worker --workers 2" .. flags, log)
    end
    for i, pid in ipairs(workers) do
      local log = dir .. "/worker-" .. i .. ".log"
      h.wait_until("worker " .. pid .. " to start", 30, function()
        local text = read_file(log) or ""
        assert(h.alive(pid), "worker " .. pid .. " exited: " .. text)
        return text:find("running role worker", 1, true)
      end)
    end
  end

  local function check_alive()
    for i, pid in ipairs(workers) do
      assert.is_true(h.alive(pid), "worker " .. i .. " died: " ..
        (read_file(dir .. "/worker-" .. i .. ".log") or ""))
    end
  end

  local function send(tenant, account, amount, count)
    local payload = string.format('{"account":"%s","amount":%d,"count":%d}', account, amount, count)
    return h.esengine("send bank deposit_many " .. h.q(payload) .. " --tenant " .. tenant .. flags)
  end

  local function state(tenant, account)
    return fx.bank_state(flags, tenant, account)
  end

  -- Waits until every account of `expected` ({account = {count, total}})
  -- has that state, folded in seq order.
  local function wait_states(tenant, expected, seconds)
    fx.wait_bank_states(flags, tenant, expected, seconds)
  end

  -- Pending fold jobs of the balance fold, from status.
  local function balance_pending()
    local code, out, err = h.esengine("status --json" .. flags)
    assert.are.equal(0, code, err)
    local pending = 0
    for _, line in ipairs(h.lines(out)) do
      local row = h.json(line)
      if row.kind and row.component == "balance" then pending = pending + row.pending end
    end
    return pending, out
  end

  it("holds one tenant's fold across " .. WORKERS .. " workers while another flows, then resumes in order", function()
    start_workers()
    local code, out, err = h.esengine("pause bank/balance --tenant t1" .. flags)
    assert.are.equal(0, code, err)
    assert.matches("paused", out)
    local expected = {}
    for i = 1, 30 do
      local account = "acc" .. (i % 4)
      for _, tenant in ipairs({ "t1", "t2" }) do
        local scode, _, serr = send(tenant, account, i, 3)
        assert.are.equal(0, scode, serr)
      end
      local e = expected[account] or { count = 0, total = 0 }
      e.count, e.total = e.count + 3, e.total + 3 * i
      expected[account] = e
    end
    wait_states("t2", expected, 60)
    -- t1's commands were handled (events appended) but nothing was folded:
    -- its fold jobs wait in Redis
    h.wait_until("t1 commands handled", 60, function()
      for account, want in pairs(expected) do
        local _, events = h.esengine("events account " .. account .. " --tenant t1" .. flags)
        if #h.lines(events) ~= want.count then return false end
      end
      return true
    end)
    h.wait_until("t1 fold jobs queued", 30, function() return balance_pending() > 0 end)
    for account in pairs(expected) do assert.is_nil(state("t1", account), account) end
    local _, status = balance_pending()
    assert.matches('"pause":{"pipeline":"bank","component":"balance","tenant_id":"t1"', status, 1, true)
    check_alive()

    code, out, err = h.esengine("resume bank/balance --tenant t1" .. flags)
    assert.are.equal(0, code, err)
    assert.matches("resumed", out)
    wait_states("t1", expected, 60)
    h.wait_until("the fold queue to drain", 30, function() return balance_pending() == 0 end)
    _, status = balance_pending()
    assert.is_nil(status:find('"pause"', 1, true))
    -- a second resume finds nothing to resume
    assert.are_not.equal(0, (h.esengine("resume bank/balance --tenant t1" .. flags)))
    check_alive()
  end)

  it("refuses commands with --reject for every tenant, accepts them again after resume", function()
    start_workers()
    assert.are.equal(0, (h.esengine("pause bank --reject" .. flags)))
    for _, tenant in ipairs({ "t1", "t2" }) do
      local code, _, err = send(tenant, "a", 1, 1)
      assert.are_not.equal(0, code)
      assert.matches("paused with %-%-reject", err)
    end
    local code, _, err = h.esengine("resume bank" .. flags)
    assert.are.equal(0, code, err)
    for _, tenant in ipairs({ "t1", "t2" }) do
      code, _, err = send(tenant, "a", 5, 2)
      assert.are.equal(0, code, err)
    end
    for _, tenant in ipairs({ "t1", "t2" }) do wait_states(tenant, { a = { count = 2, total = 10 } }, 60) end
    check_alive()
  end)
end)
