-- Reactor `evaluation_trigger` on trace_summary: once a trace has been quiet
-- for 30 s, dispatch evaluation_processing.execute_evaluation for each
-- evaluator configured for the tenant (config/evaluators.lua).
--
-- Debounce: the job id is per (tenant, trace); every new span replaces the
-- pending job and restarts its 30 s timer. One job dispatches every evaluator
-- of the trace, so this is also a debounce per (tenant, trace, evaluator).
-- The evaluation id is (trace, evaluator), so a later re-trigger re-runs the
-- same evaluation rather than creating a second one.

local config = require("config.evaluators")
local events = require("schemas.events")
local requests = require("utils.evaluation_requests")

return {
  options = {
    delay = 30 * 1000,
    dedup = "debounce",
    -- only spans share the debounced job: a topic or score assignment must
    -- not replace a pending evaluation job (its own job is a no-op)
    job_id = function(event)
      if event.type ~= events.SPAN_RECEIVED then return nil end
      return "evaluation_trigger:" .. event.tenant_id .. ":" .. event.aggregate_id
    end,
  },
  handle = function(event, ctx)
    local payloads, reason = requests.requests(config, event, ctx.fold_state or {})
    if reason and ctx.log then
      ctx.log.debug("evaluation_trigger: skipped " .. event.aggregate_id .. ": " .. reason)
    end
    for _, payload in ipairs(payloads) do
      ctx.dispatch("evaluation_processing", "execute_evaluation", payload)
    end
  end,
}
