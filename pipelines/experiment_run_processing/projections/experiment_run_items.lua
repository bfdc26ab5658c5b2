-- Map `experiment_run_items` (table experiment_run_items): one record per
-- target result (kind "target") or evaluator result (kind "evaluator").

local es = require("esengine")
local events = require("schemas.events")

local function map(event)
  local d = event.data
  local evaluator = event.type == events.EVALUATOR_RESULT_RECORDED
  return {
    event_id = event.id,
    tenant_id = event.tenant_id,
    run_id = event.aggregate_id,
    kind = evaluator and "evaluator" or "target",
    index = d.index,
    target_id = d.target_id,
    evaluator_id = d.evaluator_id,
    evaluator_name = d.evaluator_name,
    status = evaluator and d.status or (d.error ~= nil and "error" or "processed"),
    score = d.score,
    passed = d.passed,
    label = d.label,
    details = d.details,
    cost = d.cost,
    duration_ms = d.duration_ms,
    error = d.error,
    trace_id = d.trace_id,
    output = d.output,
    occurred_at = event.occurred_at,
  }
end

return {
  event_types = { events.TARGET_RESULT_RECORDED, events.EVALUATOR_RESULT_RECORDED },
  map = map,
  store = es.stores.table("experiment_run_items"),
}
