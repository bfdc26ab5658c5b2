-- Payload schemas of the experiment run pipeline's commands.

local es = require("esengine")
local s = es.schema

local M = {}

M.start_experiment_run = s.object({
  run_id = s.string():min(1),
  experiment_id = s.string():min(1),
  name = s.string():optional(),
  total = s.integer():min(0),
  targets = s.array(s.object({
    id = s.string():min(1),
    name = s.string():optional(),
    type = s.string():optional(),
  })):optional(),
})

M.record_target_result = s.object({
  run_id = s.string():min(1),
  index = s.integer():min(0), -- dataset row
  target_id = s.string():min(1),
  cost = s.number():min(0):optional(), -- USD
  duration_ms = s.integer():min(0):optional(),
  error = s.string():optional(),
  trace_id = s.string():optional(),
  output = s.any():optional(),
})

M.record_evaluator_result = s.object({
  run_id = s.string():min(1),
  index = s.integer():min(0),
  target_id = s.string():min(1),
  evaluator_id = s.string():min(1),
  evaluator_name = s.string():optional(),
  status = s.enum({ "processed", "error", "skipped" }),
  score = s.number():optional(),
  passed = s.boolean():optional(),
  label = s.string():optional(),
  details = s.string():optional(),
  cost = s.number():min(0):optional(),
})

M.complete_experiment_run = s.object({
  run_id = s.string():min(1),
  stopped = s.boolean():optional(), -- true: stopped by the user before the end
})

return M
