-- Event types and schema versions of the trace pipeline.
-- A version is the date its data shape was fixed; bump it when the shape of
-- `data` changes (folds read every version they have ever seen).

local M = {}

M.SPAN_RECEIVED = "lw.obs.trace.span_received"
M.TOPIC_ASSIGNED = "lw.obs.trace.topic_assigned"
M.SATISFACTION_SCORE_ASSIGNED = "lw.obs.trace.satisfaction_score_assigned"

M.VERSIONS = {
  [M.SPAN_RECEIVED] = "2025-06-01",
  [M.TOPIC_ASSIGNED] = "2025-06-01",
  [M.SATISFACTION_SCORE_ASSIGNED] = "2025-06-01",
}

return M
