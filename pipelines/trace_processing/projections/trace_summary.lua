-- Fold `trace_summary` (table trace_summaries): one summary per trace.
--
-- Order-independent: every span-derived field is a commutative aggregate
-- (count, min, max, sum, set union) or a "pick": the value of the span that
-- ranks first under a total order (start time, then span id), so the summary
-- is the same whatever order spans arrive in. O(1) work per span (plus the
-- handful of distinct models), so a 13,000-span trace folds in linear time.
--
-- Times are integer ms since the epoch (OTLP nanos / 1e6, floored).
-- Cost is accumulated in integer nano-dollars (_cost_nanos) and exposed
-- rounded to 6 decimals (total_cost), so sums are exact in any order.
-- Fields starting with "_" are fold bookkeeping, not part of the summary.

local es = require("esengine")
local events = require("schemas.events")
local facts = require("utils.span_facts")

local MAX_MS = 999999999999999 -- ranks of "latest first" invert times against this

-- Rank of a span by start time then span id ("smaller wins").
local function start_rank(span)
  return string.format("%015d:%s", span.start_time_ms, span.span_id)
end

-- Set state[field] = value if this rank beats the one that set it before.
local function pick(state, field, rank, value)
  if value == nil then return end
  local current = state._ranks[field]
  if current == nil or rank < current then
    state._ranks[field] = rank
    state[field] = value
  end
end

local function round(x, places)
  local scale = 10 ^ places
  return math.floor(x * scale + 0.5) / scale
end

local function add_model(models, name)
  for i, m in ipairs(models) do
    if m == name then return end
    if name < m then
      table.insert(models, i, name)
      return
    end
  end
  models[#models + 1] = name
end

local function add(state, field, n)
  if n then state[field] = (state[field] or 0) + n end
end

local function apply_span(state, span)
  state.trace_id = state.trace_id or span.trace_id
  state.span_count = state.span_count + 1

  local start_ms, end_ms = span.start_time_ms, span.end_time_ms
  if not state.start_time_ms or start_ms < state.start_time_ms then state.start_time_ms = start_ms end
  if not state.end_time_ms or end_ms > state.end_time_ms then state.end_time_ms = end_ms end
  state.total_duration_ms = state.end_time_ms - state.start_time_ms

  for _, m in ipairs(facts.models(span)) do add_model(state.models, m) end

  local prompt_tokens, completion_tokens = facts.tokens(span)
  add(state, "prompt_tokens", prompt_tokens)
  add(state, "completion_tokens", completion_tokens)
  local cost = facts.cost_nanos(span)
  if cost then
    state._cost_nanos = (state._cost_nanos or 0) + cost
    state.total_cost = math.floor((state._cost_nanos + 500) / 1000) / 1e6
  end

  local rank = start_rank(span)
  local is_error, message = facts.error(span)
  if is_error then
    state.has_error = true
    pick(state, "error_message", rank, message)
  end
  if (span.status or {}).code == "ok" then state.has_ok_status = true end

  local first_token = facts.first_token_ms(span)
  if first_token then
    pick(state, "time_to_first_token_ms",
      string.format("%015d:%s", first_token, span.span_id), first_token - start_ms)
  end
  if state.completion_tokens and state.total_duration_ms > 0 then
    state.tokens_per_second = round(state.completion_tokens / (state.total_duration_ms / 1000), 2)
  end

  -- input: the root span's, else the earliest span's that has one;
  -- output: the root span's, else the last span to finish that has one.
  local root = span.parent_span_id == nil and "0" or "1"
  pick(state, "input", root .. rank, facts.input(span))
  pick(state, "output", root .. string.format("%015d:%s", MAX_MS - end_ms, span.span_id),
    facts.output(span))

  -- first-wins attributes (first = earliest span)
  pick(state, "service_name", rank, facts.service_name(span))
  local sdk_name, sdk_version, sdk_language = facts.sdk(span)
  if sdk_name then
    local current = state._ranks.sdk
    if current == nil or rank < current then
      state._ranks.sdk = rank
      state.sdk_name, state.sdk_version, state.sdk_language = sdk_name, sdk_version, sdk_language
    end
  end
  for field in pairs(facts.ATTRIBUTE_FIELDS) do
    pick(state, field, rank, facts.attribute(span, field))
  end
  pick(state, "labels", rank, facts.labels(span))
end

local function apply(state, event)
  local data = event.data or {}
  if event.type == events.SPAN_RECEIVED then
    apply_span(state, data)
  elseif event.type == events.TOPIC_ASSIGNED then
    state.topic_id, state.topic_name = data.topic_id, data.topic_name
    state.subtopic_id, state.subtopic_name = data.subtopic_id, data.subtopic_name
  elseif event.type == events.SATISFACTION_SCORE_ASSIGNED then
    state.satisfaction_score = data.score
  end
  local at = event.occurred_at
  if at then
    if not state.first_event_at or at < state.first_event_at then state.first_event_at = at end
    if not state.last_event_at or at > state.last_event_at then state.last_event_at = at end
  end
  return state
end

return {
  version = "2025-06-01",
  event_types = { events.SPAN_RECEIVED, events.TOPIC_ASSIGNED, events.SATISFACTION_SCORE_ASSIGNED },
  init = function()
    return { span_count = 0, models = {}, has_error = false, has_ok_status = false, _ranks = {} }
  end,
  apply = apply,
  store = es.stores.table("trace_summaries"),
}
