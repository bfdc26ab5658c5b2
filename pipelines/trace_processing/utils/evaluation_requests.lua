-- Which execute_evaluation commands a stored span triggers (pure; used by the
-- evaluation_trigger reactor).
--
-- requests(config, event, summary) -> list of execute_evaluation payloads
-- (possibly empty), plus a reason when nothing is requested.
--   config  : { default = {evaluator..}, tenants = { [tenant] = {evaluator..} } }
--   event   : the span_received event that was just folded
--   summary : the trace_summary state holding it
-- A trace is skipped when its latest span ended more than MAX_AGE_MS before
-- the event was stored (event.created_at is the engine's clock at append, so
-- the decision is deterministic and replay-safe).

local events = require("schemas.events")

local M = {}

M.MAX_AGE_MS = 60 * 60 * 1000

-- The summary fields an evaluator may read, copied into the command so the
-- evaluation is a pure function of its payload.
local TRACE_FIELDS = { "input", "output", "total_duration_ms", "span_count", "has_error",
  "error_message", "time_to_first_token_ms", "prompt_tokens", "completion_tokens",
  "total_cost", "start_time_ms", "end_time_ms" }

function M.evaluators_for(config, tenant_id)
  return (config.tenants or {})[tenant_id] or config.default or {}
end

function M.requests(config, event, summary)
  if event.type ~= events.SPAN_RECEIVED then return {}, "not a span" end
  local evaluators = M.evaluators_for(config, event.tenant_id)
  if #evaluators == 0 then return {}, "no evaluators for tenant" end
  local last_activity = summary.end_time_ms or event.occurred_at or 0
  if event.created_at and event.created_at - last_activity > M.MAX_AGE_MS then
    return {}, "trace older than one hour"
  end

  local trace = {}
  for _, field in ipairs(TRACE_FIELDS) do trace[field] = summary[field] end
  local out = {}
  for _, ev in ipairs(evaluators) do
    out[#out + 1] = {
      evaluation_id = event.aggregate_id .. ":" .. ev.id,
      evaluator_id = ev.id,
      evaluator_type = ev.type,
      evaluator_name = ev.name,
      is_guardrail = ev.guardrail == true,
      settings = ev.settings or {},
      trace_id = event.aggregate_id,
      trigger_seq = event.seq,
      trace = trace,
    }
  end
  return out
end

return M
