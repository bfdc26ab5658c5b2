-- Payload schemas of the evaluation pipeline's commands.

local es = require("esengine")
local s = es.schema

local M = {}

M.TERMINAL_STATUSES = { "processed", "error", "skipped" }

-- Fields naming an evaluation and its evaluator, shared by the commands.
local function identity(fields)
  fields.evaluation_id = s.string():min(1)
  fields.evaluator_id = fields.evaluator_id or s.string():optional()
  fields.evaluator_type = fields.evaluator_type or s.string():optional()
  fields.evaluator_name = s.string():optional()
  fields.trace_id = fields.trace_id or s.string():optional()
  fields.is_guardrail = s.boolean():optional()
  return s.object(fields)
end

-- Built by the evaluation_trigger reactor of trace_processing.
M.execute_evaluation = identity({
  evaluator_id = s.string():min(1),
  evaluator_type = s.string():min(1),
  trace_id = s.string():min(1),
  settings = s.any():optional(),
  trigger_seq = s.integer():min(0):optional(),
  trace = s.any(), -- trace summary fields the evaluator reads
})

M.start_evaluation = identity({})

M.complete_evaluation = s.object({
  evaluation_id = s.string():min(1),
  status = s.enum(M.TERMINAL_STATUSES),
  score = s.number():optional(),
  passed = s.boolean():optional(),
  label = s.string():optional(),
  details = s.string():optional(),
  error = s.string():optional(),
})

return M
