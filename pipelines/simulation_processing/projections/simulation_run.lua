-- Fold `simulation_run` (table simulation_runs): one scenario run.
--
-- status: pending (started) -> in_progress (first message snapshot) ->
-- success | failure | error | cancelled (finished). The status only moves
-- forward: a snapshot arriving after the finish does not reopen the run.
-- messages: the latest snapshot; trace_ids: union of all snapshots (sorted).
-- duration_ms = finished_at - started_at; created_at / updated_at: first /
-- last event time; deleted_at set by a soft delete. Times are integer ms.

local es = require("esengine")
local events = require("schemas.events")

local RANK = { pending = 1, in_progress = 2, success = 3, failure = 3, error = 3, cancelled = 3 }
local START_FIELDS = { "scenario_run_id", "scenario_id", "batch_run_id", "scenario_set_id",
  "name", "description" }
local FINISH_FIELDS = { "verdict", "reasoning", "met_criteria", "unmet_criteria", "error" }

local function advance(state, status)
  if RANK[status] >= (RANK[state.status] or 0) then state.status = status end
end

local function merge_sorted(list, ids)
  local seen = {}
  for _, id in ipairs(list) do seen[id] = true end
  for _, id in ipairs(ids or {}) do
    if not seen[id] then
      seen[id] = true
      list[#list + 1] = id
    end
  end
  table.sort(list)
end

local function apply(state, event)
  local d = event.data or {}
  local at = event.occurred_at
  if event.type == events.STARTED then
    for _, f in ipairs(START_FIELDS) do state[f] = d[f] end
    state.started_at = at
    advance(state, "pending")
  elseif event.type == events.MESSAGES_SNAPSHOT then
    state.messages = d.messages or {}
    merge_sorted(state.trace_ids, d.trace_ids)
    advance(state, "in_progress")
  elseif event.type == events.FINISHED then
    for _, f in ipairs(FINISH_FIELDS) do state[f] = d[f] end
    state.finished_at = at
    advance(state, d.status)
  elseif event.type == events.DELETED then
    state.deleted_at = at
  end
  if state.started_at and state.finished_at then
    state.duration_ms = state.finished_at - state.started_at
  end
  state.created_at = state.created_at or at
  state.updated_at = at
  return state
end

return {
  version = "2025-06-01",
  event_types = { events.STARTED, events.MESSAGES_SNAPSHOT, events.FINISHED, events.DELETED },
  init = function() return { status = "pending", messages = {}, trace_ids = {} } end,
  apply = apply,
  store = es.stores.table("simulation_runs"),
}
