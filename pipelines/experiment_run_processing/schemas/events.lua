-- Event types and schema versions of the experiment run pipeline.
--   started                 { run_id, experiment_id, name?, total, targets }
--   target_result_recorded  { run_id, index, target_id, cost?, duration_ms?,
--                             error?, trace_id?, output? }
--   evaluator_result_recorded { run_id, index, target_id, evaluator_id,
--                             evaluator_name?, status, score?, passed?,
--                             label?, details?, cost? }
--   completed               { run_id, stopped }

local M = {}

M.STARTED = "lw.experiment_run.started"
M.TARGET_RESULT_RECORDED = "lw.experiment_run.target_result_recorded"
M.EVALUATOR_RESULT_RECORDED = "lw.experiment_run.evaluator_result_recorded"
M.COMPLETED = "lw.experiment_run.completed"

M.VERSIONS = {
  [M.STARTED] = "2025-06-01",
  [M.TARGET_RESULT_RECORDED] = "2025-06-01",
  [M.EVALUATOR_RESULT_RECORDED] = "2025-06-01",
  [M.COMPLETED] = "2025-06-01",
}

return M
