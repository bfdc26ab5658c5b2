-- Global fold `project_daily_billable_events` (table
-- project_daily_billable_events): billable events per tenant and UTC day
-- (day of the event's occurred_at). Key "tenant|YYYY-MM-DD".
-- State: { tenant_id, day, billable_events, spans, evaluations_started,
-- experiment_runs_started }. Exact under redelivery like every fold.

local es = require("esengine")
local events = require("schemas.events")
local day = require("utils.day")

local COUNTERS = {
  [events.SPAN_RECEIVED] = "spans",
  [events.EVALUATION_STARTED] = "evaluations_started",
  [events.EXPERIMENT_RUN_STARTED] = "experiment_runs_started",
}

return {
  version = "2025-06-01",
  event_types = { events.SPAN_RECEIVED, events.EVALUATION_STARTED, events.EXPERIMENT_RUN_STARTED },
  key = function(event)
    return event.tenant_id .. "|" .. day.utc_day(event.occurred_at)
  end,
  init = function()
    return { billable_events = 0, spans = 0, evaluations_started = 0, experiment_runs_started = 0 }
  end,
  apply = function(state, event)
    state.tenant_id = event.tenant_id
    state.day = day.utc_day(event.occurred_at)
    state.billable_events = state.billable_events + 1
    local counter = COUNTERS[event.type]
    state[counter] = state[counter] + 1
    return state
  end,
  store = es.stores.table("project_daily_billable_events"),
}
