-- experiment_run_processing without the engine: the experiment_run fold's
-- counters, averages and per-target summary, and the items map.
local h = require("spec.pipelines.helper")

local req = h.use("experiment_run_processing")
local events = req("schemas.events")
local experiment_run = req("projections.experiment_run")
local items = req("projections.experiment_run_items")

local function target_result(index, target_id, extra)
  local data = { run_id = "run1", index = index, target_id = target_id }
  for k, v in pairs(extra or {}) do data[k] = v end
  return { type = events.TARGET_RESULT_RECORDED, occurred_at = 1000 + index, data = data }
end

local function evaluator_result(index, target_id, extra)
  local data = { run_id = "run1", index = index, target_id = target_id, evaluator_id = "acc",
    status = "processed" }
  for k, v in pairs(extra or {}) do data[k] = v end
  return { type = events.EVALUATOR_RESULT_RECORDED, occurred_at = 2000 + index, data = data }
end

-- Two targets over three rows; hand-computed totals below.
local RUN = {
  { type = events.STARTED, occurred_at = 900, data = { run_id = "run1", experiment_id = "exp1",
    name = "nightly", total = 3, targets = { { id = "gpt", name = "GPT" }, { id = "claude" } } } },
  target_result(0, "gpt", { cost = 0.001, duration_ms = 120 }),
  target_result(1, "gpt", { cost = 0.002, duration_ms = 80 }),
  target_result(2, "gpt", { error = "timeout", duration_ms = 30000 }),
  target_result(0, "claude", { cost = 0.0005, duration_ms = 200 }),
  evaluator_result(0, "gpt", { score = 1, passed = true, cost = 0.0001 }),
  evaluator_result(1, "gpt", { score = 0.5, passed = false }),
  evaluator_result(2, "gpt", { status = "error", score = 0, passed = nil }),
  evaluator_result(0, "claude", { score = 0.75, passed = true }),
  { type = events.COMPLETED, occurred_at = 5000, data = { run_id = "run1", stopped = false } },
}

describe("experiment_run_processing", function()
  it("folds a run into exact totals, averages and per-target summaries", function()
    assert.same({
      run_id = "run1", experiment_id = "exp1", name = "nightly", total = 3,
      targets = { { id = "gpt", name = "GPT" }, { id = "claude" } },
      status = "finished", started_at = 900, finished_at = 5000,
      progress = 4, completed_count = 3, failed_count = 1,
      total_cost = 0.0036, -- 0.001 + 0.002 + 0.0005 + 0.0001
      total_duration_ms = 120 + 80 + 30000 + 200,
      score_sum = 2.25, score_count = 3, average_score = 0.75, -- (1 + 0.5 + 0.75) / 3; the error is not scored
      passed_count = 2, pass_total = 3, pass_rate = 0.666667,
      per_target = {
        gpt = { target_id = "gpt", name = "GPT", progress = 3, completed_count = 2, failed_count = 1,
          total_cost = 0.0031, total_duration_ms = 30200, score_sum = 1.5, score_count = 2,
          average_score = 0.75, passed_count = 1, pass_total = 2, pass_rate = 0.5 },
        claude = { target_id = "claude", progress = 1, completed_count = 1, failed_count = 0,
          total_cost = 0.0005, total_duration_ms = 200, score_sum = 0.75, score_count = 1,
          average_score = 0.75, passed_count = 1, pass_total = 1, pass_rate = 1 },
      },
    }, h.fold(experiment_run, h.events("t1", "run1", RUN)))
  end)

  it("marks a stopped run", function()
    local state = h.fold(experiment_run, h.events("t1", "run1", {
      RUN[1], { type = events.COMPLETED, occurred_at = 1500, data = { run_id = "run1", stopped = true } },
    }))
    assert.equal("stopped", state.status)
    assert.equal(1500, state.stopped_at)
    assert.is_nil(state.finished_at)
  end)

  it("maps each target and evaluator result to one item", function()
    local evs = h.events("t1", "run1", RUN)
    assert.same({
      event_id = "run1-2", tenant_id = "t1", run_id = "run1", kind = "target", index = 0,
      target_id = "gpt", status = "processed", cost = 0.001, duration_ms = 120, occurred_at = 1000,
    }, items.map(evs[2]))
    assert.equal("error", items.map(evs[4]).status)
    assert.same({
      event_id = "run1-6", tenant_id = "t1", run_id = "run1", kind = "evaluator", index = 0,
      target_id = "gpt", evaluator_id = "acc", status = "processed", score = 1, passed = true,
      cost = 0.0001, occurred_at = 2000,
    }, items.map(evs[6]))
  end)
end)
