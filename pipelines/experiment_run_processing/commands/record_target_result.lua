-- Command `record_target_result`: a target's result for one dataset row
-- -> lw.experiment_run.target_result_recorded. One per (row, target):
-- idempotency key run:target:index:target_id, so a re-sent result counts once.

local es = require("esengine")
local events = require("schemas.events")
local schemas = require("schemas.commands")

return {
  schema = schemas.record_target_result,
  aggregate_id = function(p) return p.run_id end,
  handle = function(command)
    local p = command.data
    return {
      es.event(events.TARGET_RESULT_RECORDED, {
        run_id = p.run_id, index = p.index, target_id = p.target_id, cost = p.cost,
        duration_ms = p.duration_ms, error = p.error, trace_id = p.trace_id, output = p.output,
      }, {
        version = events.VERSIONS[events.TARGET_RESULT_RECORDED],
        idempotency_key = table.concat({ p.run_id, "target", p.index, p.target_id }, ":"),
      }),
    }
  end,
}
