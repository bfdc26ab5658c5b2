-- Event types and schema versions of the evaluation pipeline.
--   scheduled { evaluation_id, evaluator_id, evaluator_type, evaluator_name?,
--               trace_id?, is_guardrail, attempt? }
--   started   { evaluation_id, (same identity fields)?, attempt? }
--   completed { evaluation_id, status = processed|error|skipped, score?,
--               passed?, label?, details?, error?, attempt? }
-- `attempt` (the trace fold seq that triggered an execution) ties the three
-- events of one execute_evaluation together; external start/complete events
-- carry none and apply to the current run.

local M = {}

M.SCHEDULED = "lw.evaluation.scheduled"
M.STARTED = "lw.evaluation.started"
M.COMPLETED = "lw.evaluation.completed"

M.VERSIONS = {
  [M.SCHEDULED] = "2025-06-01",
  [M.STARTED] = "2025-06-01",
  [M.COMPLETED] = "2025-06-01",
}

return M
