-- Event types of other pipelines that the global usage folds count.
-- (Global folds receive events of every pipeline whose type they list.)

local M = {}

M.SPAN_RECEIVED = "lw.obs.trace.span_received"
M.EVALUATION_STARTED = "lw.evaluation.started"
M.EXPERIMENT_RUN_STARTED = "lw.experiment_run.started"

return M
