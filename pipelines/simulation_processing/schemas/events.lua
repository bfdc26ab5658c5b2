-- Event types and schema versions of the simulation run pipeline.
--   started            { scenario_run_id, scenario_id, batch_run_id,
--                        scenario_set_id?, name?, description? }
--   messages_snapshot  { messages, trace_ids }  (full list; replaces)
--   finished           { status, verdict?, reasoning?, met_criteria?,
--                        unmet_criteria?, error? }
--   deleted            {}  (soft delete)

local M = {}

M.STARTED = "lw.simulation_run.started"
M.MESSAGES_SNAPSHOT = "lw.simulation_run.messages_snapshot"
M.FINISHED = "lw.simulation_run.finished"
M.DELETED = "lw.simulation_run.deleted"

M.VERSIONS = {
  [M.STARTED] = "2025-06-01",
  [M.MESSAGES_SNAPSHOT] = "2025-06-01",
  [M.FINISHED] = "2025-06-01",
  [M.DELETED] = "2025-06-01",
}

return M
