-- OTLP/JSON -> record_span payloads.
--
-- Input: an ExportTraceServiceRequest as decoded from the OTLP JSON mapping
-- (resourceSpans[].scopeSpans[].spans[]; the legacy instrumentationLibrarySpans
-- is accepted too). Output: one record_span payload per valid span, plus a list
-- of rejected spans, each with its JSON path and the reason. Nothing is dropped
-- silently.
--
-- Payload contract (see pipelines/README.md):
--   trace_id, span_id, parent_span_id?  lowercase hex (OTLP JSON hex; base64
--                                       ids from protobuf-JSON exporters are
--                                       converted)
--   name, kind                          kind: internal|server|client|producer|
--                                       consumer|unspecified
--   start_time_unix_nano, end_time_unix_nano   exact decimal strings
--   start_time_ms, end_time_ms          integer ms = floor(nanos / 1e6)
--   status = { code = unset|ok|error, message? }
--   attributes                          flat map key -> Lua value
--   events? = { {name, time_unix_nano, time_ms, attributes?} }
--   links?  = { {trace_id, span_id, trace_state?, attributes?} }
--   resource = { attributes }, scope = { name?, version? }, trace_state?
-- Empty lists are omitted (nil) rather than sent as empty tables.

local values = require("utils.otlp_values")

local M = {}

local KINDS = {
  [0] = "unspecified", [1] = "internal", [2] = "server", [3] = "client",
  [4] = "producer", [5] = "consumer",
  SPAN_KIND_UNSPECIFIED = "unspecified", SPAN_KIND_INTERNAL = "internal",
  SPAN_KIND_SERVER = "server", SPAN_KIND_CLIENT = "client",
  SPAN_KIND_PRODUCER = "producer", SPAN_KIND_CONSUMER = "consumer",
}

local STATUS_CODES = {
  [0] = "unset", [1] = "ok", [2] = "error",
  STATUS_CODE_UNSET = "unset", STATUS_CODE_OK = "ok", STATUS_CODE_ERROR = "error",
}

-- The empty table obj() answers for a non-table: shared (one per module,
-- not one per missing field of every span), so it refuses writes.
local EMPTY = setmetatable({}, { __newindex = function() error("EMPTY is read-only", 2) end })

-- x when it is a table (JSON object or array), else an empty table; JSON
-- nulls decode to cjson.null and must not be indexed.
local function obj(x)
  if type(x) == "table" then return x end
  return EMPTY
end

local function non_empty_list(list)
  if #list == 0 then return nil end
  return list
end

local function convert_events(raw_events)
  if type(raw_events) ~= "table" or raw_events[1] == nil then return nil end
  local out = {}
  for i, ev in ipairs(obj(raw_events)) do
    ev = obj(ev)
    local nanos, ms = values.nanos(ev.timeUnixNano)
    if not nanos then
      return nil, string.format("events[%d].timeUnixNano: %s", i - 1, ms)
    end
    out[#out + 1] = {
      name = type(ev.name) == "string" and ev.name or "",
      time_unix_nano = nanos,
      time_ms = ms,
      attributes = values.attributes(ev.attributes),
    }
  end
  return non_empty_list(out)
end

local function convert_links(raw_links)
  if type(raw_links) ~= "table" or raw_links[1] == nil then return nil end
  local out = {}
  for i, link in ipairs(obj(raw_links)) do
    link = obj(link)
    local trace_id = values.id(link.traceId, 16)
    local span_id = values.id(link.spanId, 8)
    if not trace_id or not span_id then
      return nil, string.format("links[%d]: invalid traceId or spanId", i - 1)
    end
    out[#out + 1] = {
      trace_id = trace_id,
      span_id = span_id,
      trace_state = (type(link.traceState) == "string" and link.traceState ~= "")
        and link.traceState or nil,
      attributes = values.attributes(link.attributes),
    }
  end
  return non_empty_list(out)
end

-- One OTLP span -> payload, or nil and the reason it is invalid. resource
-- and scope are shared by the payloads of their resourceSpans/scopeSpans.
local function convert_span(span, resource, scope)
  if type(span) ~= "table" then return nil, "span is not an object" end
  local trace_id = values.id(span.traceId, 16)
  if not trace_id then return nil, "traceId: expected 32 hex chars, not all zero" end
  local span_id = values.id(span.spanId, 8)
  if not span_id then return nil, "spanId: expected 16 hex chars, not all zero" end
  local parent_span_id
  if type(span.parentSpanId) == "string" and span.parentSpanId ~= "" then
    parent_span_id = values.id(span.parentSpanId, 8)
    if not parent_span_id then return nil, "parentSpanId: expected 16 hex chars" end
  end
  if type(span.name) ~= "string" or span.name == "" then
    return nil, "name: missing"
  end
  local start_nanos, start_ms = values.nanos(span.startTimeUnixNano)
  if not start_nanos then return nil, "startTimeUnixNano: " .. start_ms end
  local end_nanos, end_ms = values.nanos(span.endTimeUnixNano)
  if not end_nanos then return nil, "endTimeUnixNano: " .. end_ms end
  if values.nanos_less(end_nanos, start_nanos) then
    return nil, "endTimeUnixNano: before startTimeUnixNano"
  end
  local events, events_err = convert_events(span.events)
  if events_err then return nil, events_err end
  local links, links_err = convert_links(span.links)
  if links_err then return nil, links_err end

  local status = obj(span.status)
  local message = status.message
  return {
    trace_id = trace_id,
    span_id = span_id,
    parent_span_id = parent_span_id,
    trace_state = (type(span.traceState) == "string" and span.traceState ~= "")
      and span.traceState or nil,
    name = span.name,
    kind = KINDS[span.kind] or "unspecified",
    start_time_unix_nano = start_nanos,
    end_time_unix_nano = end_nanos,
    start_time_ms = start_ms,
    end_time_ms = end_ms,
    status = {
      code = STATUS_CODES[status.code] or "unset",
      message = (type(message) == "string" and message ~= "") and message or nil,
    },
    attributes = values.attributes(span.attributes),
    events = events,
    links = links,
    resource = resource,
    scope = scope,
  }
end

-- request -> payloads, rejected
--   payloads: list of record_span payloads, in request order
--   rejected: list of { path, reason, trace_id?, span_id? } (raw ids as sent)
function M.to_record_span_payloads(request)
  local payloads, rejected = {}, {}
  if type(request) ~= "table" then
    rejected[1] = { path = "", reason = "request: expected an object" }
    return payloads, rejected
  end
  for ri, rs in ipairs(obj(request.resourceSpans)) do
    rs = obj(rs)
    local resource = { attributes = values.attributes(obj(rs.resource).attributes) }
    for si, ss in ipairs(obj(rs.scopeSpans or rs.instrumentationLibrarySpans)) do
      ss = obj(ss)
      local raw_scope = obj(ss.scope or ss.instrumentationLibrary)
      local scope = {
        name = type(raw_scope.name) == "string" and raw_scope.name or nil,
        version = type(raw_scope.version) == "string" and raw_scope.version or nil,
      }
      for pi, span in ipairs(obj(ss.spans)) do
        local payload, reason = convert_span(span, resource, scope)
        if payload then
          payloads[#payloads + 1] = payload
        else
          local raw = type(span) == "table" and span or {}
          rejected[#rejected + 1] = {
            path = string.format("resourceSpans[%d].scopeSpans[%d].spans[%d]",
              ri - 1, si - 1, pi - 1),
            reason = reason,
            trace_id = type(raw.traceId) == "string" and raw.traceId or nil,
            span_id = type(raw.spanId) == "string" and raw.spanId or nil,
          }
        end
      end
    end
  end
  return payloads, rejected
end

return M
