-- Fold `evaluation_run` (table evaluation_runs): one evaluation's lifecycle.
--
-- status: scheduled -> in_progress -> processed | error | skipped.
-- Within a run the status only moves forward, so a completed event that
-- arrives before its started event (external evaluators) still ends in the
-- completed status; the late started event only records started_at.
-- A scheduled event with a higher attempt than the current one starts a new
-- run (a re-trigger); events of an older attempt are ignored.
-- Times are integer ms (event occurred_at).

local es = require("esengine")
local events = require("schemas.events")

local RANK = { scheduled = 1, in_progress = 2, processed = 3, error = 3, skipped = 3 }
local IDENTITY = { "evaluation_id", "evaluator_id", "evaluator_type", "evaluator_name",
  "trace_id", "is_guardrail" }
local RESULT = { "score", "passed", "label", "details", "error" }

local function advance(state, status)
  if RANK[status] >= (RANK[state.status] or 0) then state.status = status end
end

local function new_run(state, attempt)
  state.attempt = attempt
  state.status = nil
  state.started_at, state.completed_at = nil, nil
  for _, f in ipairs(RESULT) do state[f] = nil end
end

local function apply(state, event)
  local d = event.data or {}
  if d.attempt ~= nil and state.attempt ~= nil and d.attempt < state.attempt then
    return state -- an older run's event
  end
  if event.type == events.SCHEDULED and d.attempt ~= nil and d.attempt ~= state.attempt then
    new_run(state, d.attempt)
  end
  for _, f in ipairs(IDENTITY) do
    if d[f] ~= nil then state[f] = d[f] end
  end

  local at = event.occurred_at
  if event.type == events.SCHEDULED then
    state.scheduled_at = at
    advance(state, "scheduled")
  elseif event.type == events.STARTED then
    state.started_at = state.started_at or at
    advance(state, "in_progress")
  elseif event.type == events.COMPLETED then
    state.completed_at = at
    advance(state, d.status)
    for _, f in ipairs(RESULT) do state[f] = d[f] end
  end
  return state
end

return {
  version = "2025-06-01",
  event_types = { events.SCHEDULED, events.STARTED, events.COMPLETED },
  init = function() return { is_guardrail = false } end,
  apply = apply,
  store = es.stores.table("evaluation_runs"),
}
