-- Command `record_span`: one span (payload from utils/otlp.lua) -> event
-- lw.obs.trace.span_received. The idempotency key tenant:trace:span makes a
-- re-sent span a no-op. occurred_at is the span's end time.

local es = require("esengine")
local events = require("schemas.events")
local schemas = require("schemas.commands")

return {
  schema = schemas.record_span,
  aggregate_id = function(span) return span.trace_id end,
  handle = function(command)
    local span = command.data
    return {
      es.event(events.SPAN_RECEIVED, span, {
        version = events.VERSIONS[events.SPAN_RECEIVED],
        occurred_at = span.end_time_ms,
        idempotency_key = command.tenant_id .. ":" .. span.trace_id .. ":" .. span.span_id,
      }),
    }
  end,
}
