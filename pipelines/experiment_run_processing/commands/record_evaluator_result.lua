-- Command `record_evaluator_result`: an evaluator's verdict on one target
-- result -> lw.experiment_run.evaluator_result_recorded. One per (row,
-- target, evaluator): idempotency key run:evaluator:index:target:evaluator.

local es = require("esengine")
local events = require("schemas.events")
local schemas = require("schemas.commands")

return {
  schema = schemas.record_evaluator_result,
  aggregate_id = function(p) return p.run_id end,
  handle = function(command)
    local p = command.data
    return {
      es.event(events.EVALUATOR_RESULT_RECORDED, {
        run_id = p.run_id, index = p.index, target_id = p.target_id,
        evaluator_id = p.evaluator_id, evaluator_name = p.evaluator_name, status = p.status,
        score = p.score, passed = p.passed, label = p.label, details = p.details, cost = p.cost,
      }, {
        version = events.VERSIONS[events.EVALUATOR_RESULT_RECORDED],
        idempotency_key = table.concat({ p.run_id, "evaluator", p.index, p.target_id, p.evaluator_id }, ":"),
      }),
    }
  end,
}
