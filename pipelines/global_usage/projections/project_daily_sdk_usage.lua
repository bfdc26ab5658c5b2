-- Global fold `project_daily_sdk_usage` (table project_daily_sdk_usage):
-- spans received per tenant, UTC day and SDK (name, version, language; see
-- utils/sdk.lua). Key "tenant|YYYY-MM-DD|name|version|language".
-- State: { tenant_id, day, sdk_name, sdk_version, sdk_language, spans }.

local es = require("esengine")
local events = require("schemas.events")
local day = require("utils.day")
local sdk = require("utils.sdk")

return {
  version = "2025-06-01",
  event_types = { events.SPAN_RECEIVED },
  key = function(event)
    local name, version, language = sdk.of(event)
    return table.concat({ event.tenant_id, day.utc_day(event.occurred_at), name, version, language }, "|")
  end,
  init = function() return { spans = 0 } end,
  apply = function(state, event)
    state.tenant_id = event.tenant_id
    state.day = day.utc_day(event.occurred_at)
    state.sdk_name, state.sdk_version, state.sdk_language = sdk.of(event)
    state.spans = state.spans + 1
    return state
  end,
  store = es.stores.table("project_daily_sdk_usage"),
}
