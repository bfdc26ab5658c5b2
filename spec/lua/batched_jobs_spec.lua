-- batched_jobs_spec.lua: batches run by the real C core: a map job that
-- carries several events (a command batch's, of one aggregate), a fold job
-- that does too, and a fold claim of several jobs: each event reaches the
-- fold once and in order, and the map once per event, also when a handler
-- fails in the middle of such a job or batch; queue stats count a fold's
-- queued events, not its jobs. Projections run as queued jobs here
-- (inline_projections = false); inline_projections_spec.lua covers the
-- command batch applying them itself.
local has_core = pcall(require, "esengine_core")
local testing = require("esengine.testing")

if not has_core then
  describe("batched projection jobs", function()
    pending("build/esengine_core.so is not built (cmake --build build)")
  end)
  return
end

-- Drains, moving the clock past retry backoffs, until nothing is left.
local function settle(eng)
  for _ = 1, 50 do
    eng:drain()
    local pending = 0
    for _, row in ipairs(eng:status()) do
      pending = pending + (row.pending or 0) + (row.delayed or 0) + (row.in_flight or 0)
    end
    if pending == 0 then return end
    eng:advance(60000)
  end
  error("jobs still queued after 50 rounds")
end

local function seqs(n)
  local out = {}
  for i = 1, n do out[i] = i end
  return out
end

describe("batched projection jobs", function()
  local eng

  before_each(function()
    eng = testing.new{ pipelines = "spec/lua/fixtures/batched", tenant = "t1",
                       inline_projections = false }
  end)

  after_each(function()
    eng:close()
  end)

  it("applies every event of multi-event commands once, in seq order", function()
    eng:send("ledger", "post", { account = "a1", amounts = { 1, 2, 3, 4, 5 } })
    eng:send("ledger", "post", { account = "a1", amounts = { 10, 20 } })
    settle(eng)
    local state, last_seq = eng:state("ledger", "balance", "a1")
    assert.equal(45, state.total)
    assert.same(seqs(7), state.applied)
    assert.equal(7, last_seq)
    assert.equal(7, #eng:records("ledger", "lines"))
  end)

  it("retries a fold that failed in the middle of a batch without repeating or losing events", function()
    eng:send("ledger", "post", { account = "a1", amounts = { 1, 2, 3, 4, 5 }, fail = "fold", fail_at = 3 })
    settle(eng)
    local state, last_seq = eng:state("ledger", "balance", "a1")
    assert.equal(15, state.total)
    assert.same(seqs(5), state.applied)
    assert.equal(5, last_seq)
  end)

  it("counts the events of a multi-event fold job in the queue stats (the lag in events)", function()
    eng:send("ledger", "post", { account = "a1", amounts = { 1, 2, 3, 4, 5 }, fail = "fold", fail_at = 1 })
    eng:drain() -- the fold job fails on its first event and waits for its retry
    local fold
    for _, row in ipairs(eng:status()) do
      if row.component == "balance" then fold = row end
    end
    assert.truthy(fold, "a queue row for the balance fold")
    assert.equal(5, fold.delayed + fold.pending + fold.in_flight)
    settle(eng)
    local state = eng:state("ledger", "balance", "a1")
    assert.same(seqs(5), state.applied)
  end)

  it("retries a map that failed in the middle of a job, one record per event", function()
    eng:send("ledger", "post", { account = "a1", amounts = { 1, 2, 3, 4, 5 }, fail = "map", fail_at = 4 })
    eng:send("ledger", "post", { account = "a1", amounts = { 6 } })
    settle(eng)
    local records = eng:records("ledger", "lines")
    local got = {}
    for _, r in ipairs(records) do got[#got + 1] = r.seq end
    table.sort(got)
    assert.same(seqs(6), got)
  end)
end)
