-- Map `stored_spans` (table stored_spans): one record per received span, for
-- span-level queries. Times are integer ms; the exact nano strings are kept.

local es = require("esengine")
local events = require("schemas.events")

local function map(event)
  local span = event.data
  local status = span.status or {}
  return {
    event_id = event.id,
    tenant_id = event.tenant_id,
    trace_id = span.trace_id,
    span_id = span.span_id,
    parent_span_id = span.parent_span_id,
    name = span.name,
    kind = span.kind,
    start_time_ms = span.start_time_ms,
    end_time_ms = span.end_time_ms,
    duration_ms = span.end_time_ms - span.start_time_ms,
    start_time_unix_nano = span.start_time_unix_nano,
    end_time_unix_nano = span.end_time_unix_nano,
    status_code = status.code,
    status_message = status.message,
    attributes = span.attributes,
    events = span.events,
    links = span.links,
    resource_attributes = (span.resource or {}).attributes,
    scope_name = (span.scope or {}).name,
    scope_version = (span.scope or {}).version,
  }
end

return {
  event_types = { events.SPAN_RECEIVED },
  map = map,
  store = es.stores.table("stored_spans"),
}
