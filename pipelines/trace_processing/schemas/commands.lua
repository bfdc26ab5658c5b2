-- Payload schemas of the trace pipeline's commands.

local es = require("esengine")
local s = es.schema

local M = {}

local HEX_TRACE = "^[0-9a-f]+$"

local attributes = s.any():optional() -- flat map key -> value (utils/otlp.lua)

-- A span as produced by utils/otlp.lua (see its header for the contract).
M.record_span = s.object({
  trace_id = s.string():min(32):max(32):pattern(HEX_TRACE),
  span_id = s.string():min(16):max(16):pattern(HEX_TRACE),
  parent_span_id = s.string():min(16):max(16):pattern(HEX_TRACE):optional(),
  trace_state = s.string():optional(),
  name = s.string():min(1),
  kind = s.enum({ "unspecified", "internal", "server", "client", "producer", "consumer" }),
  start_time_unix_nano = s.string():pattern("^%d+$"),
  end_time_unix_nano = s.string():pattern("^%d+$"),
  start_time_ms = s.integer():min(0),
  end_time_ms = s.integer():min(0),
  status = s.object({
    code = s.enum({ "unset", "ok", "error" }),
    message = s.string():optional(),
  }),
  attributes = attributes,
  events = s.array(s.object({
    name = s.string(),
    time_unix_nano = s.string():pattern("^%d+$"),
    time_ms = s.integer():min(0),
    attributes = attributes,
  })):optional(),
  links = s.array(s.object({
    trace_id = s.string():pattern(HEX_TRACE),
    span_id = s.string():pattern(HEX_TRACE),
    trace_state = s.string():optional(),
    attributes = attributes,
  })):optional(),
  resource = s.object({ attributes = attributes }):optional(),
  scope = s.object({ name = s.string():optional(), version = s.string():optional() }):optional(),
})

M.assign_topic = s.object({
  trace_id = s.string():min(1),
  topic_id = s.string():min(1),
  topic_name = s.string():optional(),
  subtopic_id = s.string():optional(),
  subtopic_name = s.string():optional(),
})

M.assign_satisfaction_score = s.object({
  trace_id = s.string():min(1),
  score = s.number():min(-1):max(1),
})

return M
