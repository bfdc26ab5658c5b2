-- simulation_processing without the engine: the finish_run status rule and
-- the simulation_run fold lifecycle.
local h = require("spec.pipelines.helper")

local req = h.use("simulation_processing")
local events = req("schemas.events")
local finish_run = req("commands.finish_run")
local snapshot = req("commands.message_snapshot")
local simulation_run = req("projections.simulation_run")

local function emitted(handler, data) return handler.handle({ tenant_id = "t1", data = data })[1] end

describe("simulation_processing", function()
  it("derives the final status from error and verdict unless given", function()
    local function status(p)
      p.scenario_run_id = "r"
      return emitted(finish_run, p).data.status
    end
    assert.equal("success", status({ verdict = "success" }))
    assert.equal("failure", status({ verdict = "failure" }))
    assert.equal("failure", status({ verdict = "inconclusive" }))
    assert.equal("error", status({ verdict = "success", error = "crashed" }))
    assert.equal("cancelled", status({ status = "cancelled" }))
  end)

  it("collects trace ids from the payload and the messages", function()
    local ev = emitted(snapshot, { scenario_run_id = "r", trace_ids = { "t2" },
      messages = { { role = "user", content = "hi", trace_id = "t3" }, { role = "assistant", trace_id = "t2" } } })
    assert.same({ "t2", "t3" }, ev.data.trace_ids)
  end)

  it("folds a run from start to soft delete", function()
    local specs = {
      { type = events.STARTED, occurred_at = 100, data = { scenario_run_id = "r1", scenario_id = "s1",
        batch_run_id = "b1", scenario_set_id = "set1", name = "refund", description = "asks a refund" } },
      { type = events.MESSAGES_SNAPSHOT, occurred_at = 200,
        data = { messages = { { role = "user", content = "refund?" } }, trace_ids = { "tb" } } },
      { type = events.MESSAGES_SNAPSHOT, occurred_at = 300, data = { messages = {
        { role = "user", content = "refund?" }, { role = "assistant", content = "done" } }, trace_ids = { "ta", "tb" } } },
      emitted(finish_run, { scenario_run_id = "r1", verdict = "success", reasoning = "refunded",
        met_criteria = { "polite", "refunds" }, unmet_criteria = {} }),
      { type = events.MESSAGES_SNAPSHOT, occurred_at = 450, data = { messages = {
        { role = "user", content = "refund?" }, { role = "assistant", content = "done" } }, trace_ids = { "tc" } } },
      { type = events.DELETED, occurred_at = 500, data = {} },
    }
    specs[4].occurred_at = 400
    assert.same({
      scenario_run_id = "r1", scenario_id = "s1", batch_run_id = "b1", scenario_set_id = "set1",
      name = "refund", description = "asks a refund",
      status = "success", -- the late snapshot does not reopen the run
      messages = { { role = "user", content = "refund?" }, { role = "assistant", content = "done" } },
      trace_ids = { "ta", "tb", "tc" },
      verdict = "success", reasoning = "refunded", met_criteria = { "polite", "refunds" }, unmet_criteria = {},
      started_at = 100, finished_at = 400, duration_ms = 300,
      created_at = 100, updated_at = 500, deleted_at = 500,
    }, h.fold(simulation_run, h.events("t1", "r1", specs)))
  end)

  it("is in_progress after the first snapshot and error on a failed finish", function()
    local state = h.fold(simulation_run, h.events("t1", "r2", {
      { type = events.STARTED, occurred_at = 1, data = { scenario_run_id = "r2", scenario_id = "s", batch_run_id = "b" } },
      { type = events.MESSAGES_SNAPSHOT, occurred_at = 2, data = { messages = {}, trace_ids = {} } },
    }))
    assert.equal("in_progress", state.status)
    state = simulation_run.apply(state, h.events("t1", "r2", {
      { type = events.FINISHED, occurred_at = 9, data = { status = "error", error = "agent crashed" } } })[1])
    assert.equal("error", state.status)
    assert.equal("agent crashed", state.error)
    assert.equal(8, state.duration_ms)
  end)
end)
