-- What a trace summary needs from one span payload (see utils/otlp.lua for
-- the payload). Pure functions; the attribute keys recognised are listed here,
-- in priority order, and documented in pipelines/README.md.

local cjson = require("cjson")
local prices = require("utils.model_prices")

local M = {}

local MODEL_KEYS = { "gen_ai.request.model", "gen_ai.response.model", "llm.model_name" }
-- the model that was billed: the response model is the exact one used
local PRICED_MODEL_KEYS = { "gen_ai.response.model", "gen_ai.request.model", "llm.model_name" }
local INPUT_TOKEN_KEYS = { "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
  "llm.token_count.prompt" }
local OUTPUT_TOKEN_KEYS = { "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
  "llm.token_count.completion" }
local COST_KEYS = { "gen_ai.usage.cost", "langwatch.span.cost", "llm.cost.total" }
local INPUT_KEYS = { "langwatch.input", "input.value", "gen_ai.input.messages",
  "gen_ai.prompt", "llm.input_messages", "traceloop.entity.input" }
local OUTPUT_KEYS = { "langwatch.output", "output.value", "gen_ai.output.messages",
  "gen_ai.completion", "llm.output_messages", "traceloop.entity.output" }
local FIRST_TOKEN_EVENTS = { ["gen_ai.content.chunk"] = true, first_token = true,
  ["llm.first_token"] = true }

-- Span attributes first, then resource attributes.
local ATTRIBUTE_FIELDS = {
  thread_id = { "langwatch.thread.id", "gen_ai.conversation.id", "thread.id", "session.id" },
  user_id = { "langwatch.user.id", "user.id", "enduser.id" },
  customer_id = { "langwatch.customer.id", "customer.id" },
}
M.ATTRIBUTE_FIELDS = ATTRIBUTE_FIELDS

local function attrs(span) return span.attributes or {} end
local function resource_attrs(span) return (span.resource or {}).attributes or {} end

local function first_of(map, keys)
  for _, k in ipairs(keys) do
    local v = map[k]
    if v ~= nil and v ~= "" and v ~= cjson.null then return v end
  end
  return nil
end

local function number_of(map, keys)
  for _, k in ipairs(keys) do
    local n = tonumber(map[k])
    if n then return n end
  end
  return nil
end

local function as_text(v)
  if v == nil then return nil end
  if type(v) == "string" then return v end
  return cjson.encode(v)
end

-- Distinct model names mentioned by the span.
function M.models(span)
  local a, out, seen = attrs(span), {}, {}
  for _, k in ipairs(MODEL_KEYS) do
    local m = a[k]
    if type(m) == "string" and m ~= "" and not seen[m] then
      seen[m] = true
      out[#out + 1] = m
    end
  end
  return out
end

-- prompt tokens, completion tokens (each nil when not reported)
function M.tokens(span)
  local a = attrs(span)
  return number_of(a, INPUT_TOKEN_KEYS), number_of(a, OUTPUT_TOKEN_KEYS)
end

-- Cost in integer nano-dollars: the span's own cost attribute (USD) if
-- present, else the price table applied to its tokens; nil when unknown.
function M.cost_nanos(span)
  local a = attrs(span)
  local own = number_of(a, COST_KEYS)
  if own then return math.floor(own * 1e9 + 0.5) end
  local input, output = M.tokens(span)
  if not input and not output then return nil end
  return prices.cost_nanos(first_of(a, PRICED_MODEL_KEYS), input, output)
end

-- is_error, message?  A span is errored when its status is ERROR, or when its
-- status is not OK and it carries an `exception` event or an `error.message`
-- attribute. The message is the status message, else the first exception
-- event's exception.message, else the error.message attribute.
function M.error(span)
  local status = span.status or {}
  local exception_message, has_exception
  for _, ev in ipairs(span.events or {}) do
    if ev.name == "exception" then
      has_exception = true
      local m = (ev.attributes or {})["exception.message"]
      if type(m) == "string" and m ~= "" then
        exception_message = m
        break
      end
    end
  end
  local attr_message = attrs(span)["error.message"]
  if type(attr_message) ~= "string" or attr_message == "" then attr_message = nil end
  local is_error = status.code == "error"
    or (status.code ~= "ok" and (has_exception or attr_message ~= nil))
  if not is_error then return false, nil end
  return true, status.message or exception_message or attr_message
end

-- Time (ms) of the span's earliest first-token event, or nil.
function M.first_token_ms(span)
  local best
  for _, ev in ipairs(span.events or {}) do
    if FIRST_TOKEN_EVENTS[ev.name] and (not best or ev.time_ms < best) then
      best = ev.time_ms
    end
  end
  return best
end

-- Indexed GenAI attributes (gen_ai.prompt.0.role / .content ...) as a JSON
-- message list [{"role":..,"content":..}], keys in that order, or nil.
local function indexed_messages(a, prefix)
  local messages, i = {}, 0
  while a[prefix .. i .. ".content"] ~= nil or a[prefix .. i .. ".role"] ~= nil do
    local role, content = a[prefix .. i .. ".role"], a[prefix .. i .. ".content"]
    messages[#messages + 1] = string.format('{"role":%s,"content":%s}',
      cjson.encode(role == nil and cjson.null or role),
      cjson.encode(content == nil and cjson.null or content))
    i = i + 1
  end
  if #messages == 0 then return nil end
  return "[" .. table.concat(messages, ",") .. "]"
end

-- The span's input as text (JSON-encoded when structured), or nil.
function M.input(span)
  local a = attrs(span)
  return as_text(first_of(a, INPUT_KEYS)) or indexed_messages(a, "gen_ai.prompt.")
end

-- The span's output as text (JSON-encoded when structured), or nil.
function M.output(span)
  local a = attrs(span)
  return as_text(first_of(a, OUTPUT_KEYS)) or indexed_messages(a, "gen_ai.completion.")
end

-- Value of a summary attribute field (thread_id, user_id, customer_id), as
-- text, from span attributes then resource attributes.
function M.attribute(span, field)
  local keys = ATTRIBUTE_FIELDS[field]
  return as_text(first_of(attrs(span), keys) or first_of(resource_attrs(span), keys))
end

-- Labels as a list of strings (array attribute or JSON array text), or nil.
function M.labels(span)
  local v = first_of(attrs(span), { "langwatch.labels" })
    or first_of(resource_attrs(span), { "langwatch.labels" })
  if type(v) == "string" then
    local ok, decoded = pcall(cjson.decode, v)
    v = (ok and type(decoded) == "table") and decoded or { v }
  end
  if type(v) ~= "table" or #v == 0 then return nil end
  local out = {}
  for i, label in ipairs(v) do out[i] = tostring(label) end
  return out
end

-- Resource service.name, or nil.
function M.service_name(span)
  return as_text(first_of(resource_attrs(span), { "service.name" }))
end

-- sdk name, version, language from langwatch.sdk.* resource attributes, else
-- telemetry.sdk.*; each nil when absent.
function M.sdk(span)
  local r = resource_attrs(span)
  if r["langwatch.sdk.name"] ~= nil then
    return as_text(r["langwatch.sdk.name"]), as_text(r["langwatch.sdk.version"]),
      as_text(r["langwatch.sdk.language"])
  end
  return as_text(r["telemetry.sdk.name"]), as_text(r["telemetry.sdk.version"]),
    as_text(r["telemetry.sdk.language"])
end

return M
