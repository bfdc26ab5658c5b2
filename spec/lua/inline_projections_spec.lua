-- inline_projections_spec.lua: a command batch applying its events' folds
-- and maps in its own unit of work (engine/inline_projections.h), run by the
-- real C core: the same states and records as queued jobs give; a fold that
-- fails there falls back to its queued job, and while that job waits (retry
-- or parked) later events of the aggregate queue behind it instead of
-- overtaking it.
local has_core = pcall(require, "esengine_core")
local testing = require("esengine.testing")

if not has_core then
  describe("inline projections", function()
    pending("build/esengine_core.so is not built (cmake --build build)")
  end)
  return
end

local FIXTURES = "spec/lua/fixtures/batched"

-- Queued fold, map and reactor items of the ledger pipeline, per component.
local function queued(eng)
  local out = {}
  for _, row in ipairs(eng:status()) do
    if row.kind ~= "command" then
      out[row.component] = (out[row.component] or 0) + row.pending + row.delayed
        + row.in_flight + row.parked
    end
  end
  return out
end

local function record_seqs(eng)
  local got = {}
  for _, r in ipairs(eng:records("ledger", "lines")) do got[#got + 1] = r.seq end
  table.sort(got)
  return got
end

describe("inline projections", function()
  it("store what queued jobs store, with no projection job left after the commands", function()
    local results = {}
    for _, inline in ipairs({ true, false }) do
      local eng = testing.new{ pipelines = FIXTURES, tenant = "t1", inline_projections = inline }
      eng:send("ledger", "post", { account = "a1", amounts = { 1, 2, 3 } })
      eng:send("ledger", "post", { account = "a1", amounts = { 10 } })
      eng:send("ledger", "post", { account = "a2", amounts = { 7 } })
      local runs = eng:drain()
      local a1, a1_seq = eng:state("ledger", "balance", "a1")
      local a2 = eng:state("ledger", "balance", "a2")
      results[inline] = { a1 = a1, a1_seq = a1_seq, a2 = a2, records = record_seqs(eng), runs = runs }
      assert.same({}, queued(eng))
      eng:close()
    end
    assert.same(results[false].a1, results[true].a1)
    assert.same(results[false].a2, results[true].a2)
    assert.equal(4, results[true].a1_seq)
    assert.same({ 1, 1, 2, 3, 4 }, results[true].records)
    assert.same(results[false].records, results[true].records)
    -- inline: only the command jobs ran as jobs
    assert.is_true(results[true].runs < results[false].runs)
  end)

  it("leave a failing fold to its queued job, which retries it once", function()
    local eng = testing.new{ pipelines = FIXTURES, tenant = "t1" }
    eng:send("ledger", "post", { account = "a1", amounts = { 1, 2, 3 }, fail = "fold", fail_at = 2 })
    eng:drain()
    -- the inline attempt failed, the queued job ran it again and succeeded
    local state, last_seq = eng:state("ledger", "balance", "a1")
    assert.same({ 1, 2, 3 }, state.applied)
    assert.equal(3, last_seq)
    assert.same({ 1, 2, 3 }, record_seqs(eng))
    assert.same({}, queued(eng))
    eng:close()
  end)

  it("queue later events behind a fold job that waits, in order", function()
    local eng = testing.new{ pipelines = FIXTURES, tenant = "t1" }
    eng:send("ledger", "post", { account = "a1", amounts = { 1, 2 }, fail = "fold!", fail_at = 2 })
    eng:drain() -- fails inline, then as a job: waits for its retry
    -- as a queued job does, it stored the event before the failing one
    assert.same({ 1 }, eng:state("ledger", "balance", "a1").applied)
    eng:send("ledger", "post", { account = "a1", amounts = { 5 } })
    eng:send("ledger", "post", { account = "a2", amounts = { 9 } })
    eng:drain()
    -- a1's new event waits behind the failing job; a2 is not held up
    assert.same({ 1 }, eng:state("ledger", "balance", "a1").applied)
    assert.equal(9, eng:state("ledger", "balance", "a2").total)
    -- the failing job (seqs 1 and 2; it counts both until it completes),
    -- and seq 3 behind it
    assert.equal(3, queued(eng).balance)
    -- maps have no order: every record is there
    assert.same({ 1, 1, 2, 3 }, record_seqs(eng))
    eng:close()
  end)

  it("leave a failing map to its queued job: one record per event", function()
    local eng = testing.new{ pipelines = FIXTURES, tenant = "t1" }
    eng:send("ledger", "post", { account = "a1", amounts = { 1, 2, 3 }, fail = "map", fail_at = 3 })
    eng:drain()
    assert.same({ 1, 2, 3 }, record_seqs(eng))
    assert.same({ 1, 2, 3 }, eng:state("ledger", "balance", "a1").applied)
    assert.same({}, queued(eng))
    eng:close()
  end)
end)
