-- Command `start_evaluation`: an external evaluator reports it has started
-- -> lw.evaluation.started.

local es = require("esengine")
local events = require("schemas.events")
local schemas = require("schemas.commands")

return {
  schema = schemas.start_evaluation,
  aggregate_id = function(p) return p.evaluation_id end,
  handle = function(command)
    local p = command.data
    return {
      es.event(events.STARTED, {
        evaluation_id = p.evaluation_id,
        evaluator_id = p.evaluator_id,
        evaluator_type = p.evaluator_type,
        evaluator_name = p.evaluator_name,
        trace_id = p.trace_id,
        is_guardrail = p.is_guardrail,
      }, { version = events.VERSIONS[events.STARTED] }),
    }
  end,
}
