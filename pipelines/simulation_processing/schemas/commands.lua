-- Payload schemas of the simulation run pipeline's commands.

local es = require("esengine")
local s = es.schema

local M = {}

M.FINAL_STATUSES = { "success", "failure", "error", "cancelled" }

M.start_run = s.object({
  scenario_run_id = s.string():min(1),
  scenario_id = s.string():min(1),
  batch_run_id = s.string():min(1),
  scenario_set_id = s.string():optional(),
  name = s.string():optional(),
  description = s.string():optional(),
})

M.message_snapshot = s.object({
  scenario_run_id = s.string():min(1),
  messages = s.array(s.any()), -- the full conversation so far
  trace_ids = s.array(s.string()):optional(),
})

M.finish_run = s.object({
  scenario_run_id = s.string():min(1),
  status = s.enum(M.FINAL_STATUSES):optional(), -- default: derived, see finish_run.lua
  verdict = s.enum({ "success", "failure", "inconclusive" }):optional(),
  reasoning = s.string():optional(),
  met_criteria = s.array(s.string()):optional(),
  unmet_criteria = s.array(s.string()):optional(),
  error = s.string():optional(),
})

M.delete_run = s.object({
  scenario_run_id = s.string():min(1),
})

return M
