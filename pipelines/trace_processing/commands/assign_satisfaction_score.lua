-- Command `assign_satisfaction_score`: score in [-1, 1] for the trace (the
-- latest assignment wins) -> event lw.obs.trace.satisfaction_score_assigned.

local es = require("esengine")
local events = require("schemas.events")
local schemas = require("schemas.commands")

return {
  schema = schemas.assign_satisfaction_score,
  aggregate_id = function(payload) return payload.trace_id end,
  handle = function(command)
    return {
      es.event(events.SATISFACTION_SCORE_ASSIGNED, { score = command.data.score },
        { version = events.VERSIONS[events.SATISFACTION_SCORE_ASSIGNED] }),
    }
  end,
}
