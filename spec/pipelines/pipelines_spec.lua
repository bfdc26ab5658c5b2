-- Every shipped pipeline.lua builds, with the components the README lists.
local h = require("spec.pipelines.helper")

local EXPECTED = {
  trace_processing = { aggregate = "trace", folds = { "trace_summary" }, maps = { "stored_spans" },
    reactors = { "evaluation_trigger" },
    commands = { "record_span", "assign_topic", "assign_satisfaction_score" } },
  evaluation_processing = { aggregate = "evaluation", folds = { "evaluation_run" }, maps = {}, reactors = {},
    commands = { "execute_evaluation", "start_evaluation", "complete_evaluation" } },
  experiment_run_processing = { aggregate = "experiment_run", folds = { "experiment_run" },
    maps = { "experiment_run_items" }, reactors = {},
    commands = { "start_experiment_run", "record_target_result", "record_evaluator_result",
      "complete_experiment_run" } },
  simulation_processing = { aggregate = "simulation_run", folds = { "simulation_run" }, maps = {}, reactors = {},
    commands = { "start_run", "message_snapshot", "finish_run", "delete_run" } },
  global_usage = { aggregate = "global_usage", maps = {}, reactors = {}, commands = {},
    folds = { "project_daily_billable_events", "project_daily_sdk_usage" } },
}

describe("shipped pipelines", function()
  for name, want in pairs(EXPECTED) do
    it(name .. " builds with its components", function()
      local p = h.use(name)("pipeline")
      assert.equal(name, p.name)
      assert.equal(want.aggregate, p.aggregate_type)
      assert.same(want.folds, p.fold_order)
      assert.same(want.maps, p.map_order)
      assert.same(want.reactors, p.reactor_order)
      assert.same(want.commands, p.command_order)
    end)
  end

  it("global folds are keyed and list the event types they count", function()
    local p = h.use("global_usage")("pipeline")
    for _, fold in pairs(p.folds) do
      assert.is_function(fold.key)
      assert.truthy(fold.accepts["lw.obs.trace.span_received"])
    end
  end)
end)
