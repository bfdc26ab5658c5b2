-- Command `complete_evaluation`: an external evaluator posts its result
-- -> lw.evaluation.completed (status processed|error|skipped).

local es = require("esengine")
local events = require("schemas.events")
local schemas = require("schemas.commands")

return {
  schema = schemas.complete_evaluation,
  aggregate_id = function(p) return p.evaluation_id end,
  handle = function(command)
    local p = command.data
    return {
      es.event(events.COMPLETED, {
        evaluation_id = p.evaluation_id,
        status = p.status,
        score = p.score,
        passed = p.passed,
        label = p.label,
        details = p.details,
        error = p.error,
      }, { version = events.VERSIONS[events.COMPLETED] }),
    }
  end,
}
