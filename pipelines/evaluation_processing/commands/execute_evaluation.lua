-- Command `execute_evaluation`: run a built-in evaluator over the trace
-- summary carried in the payload -> scheduled, started, completed events.
-- Dispatched by trace_processing's evaluation_trigger reactor (30 s delay,
-- debounced per tenant and trace). The aggregate is the evaluation id
-- ("<trace_id>:<evaluator_id>"); the idempotency keys include the trigger
-- seq, so a redelivered command appends nothing twice while a later trigger
-- re-runs the evaluation as a new attempt.

local es = require("esengine")
local events = require("schemas.events")
local schemas = require("schemas.commands")
local evaluators = require("utils.evaluators")

local function event(type_name, data, key)
  return es.event(type_name, data, { version = events.VERSIONS[type_name], idempotency_key = key })
end

return {
  schema = schemas.execute_evaluation,
  aggregate_id = function(p) return p.evaluation_id end,
  handle = function(command)
    local p = command.data
    local attempt = p.trigger_seq
    local function key(step)
      return attempt and (p.evaluation_id .. ":" .. attempt .. ":" .. step) or nil
    end
    local result = evaluators.run(p.evaluator_type, p.settings, p.trace)
    return {
      event(events.SCHEDULED, {
        evaluation_id = p.evaluation_id,
        evaluator_id = p.evaluator_id,
        evaluator_type = p.evaluator_type,
        evaluator_name = p.evaluator_name,
        trace_id = p.trace_id,
        is_guardrail = p.is_guardrail == true,
        attempt = attempt,
      }, key("scheduled")),
      event(events.STARTED, { evaluation_id = p.evaluation_id, attempt = attempt }, key("started")),
      event(events.COMPLETED, {
        evaluation_id = p.evaluation_id,
        attempt = attempt,
        status = result.status,
        score = result.score,
        passed = result.passed,
        label = result.label,
        details = result.details,
        error = result.error,
      }, key("completed")),
    }
  end,
}
