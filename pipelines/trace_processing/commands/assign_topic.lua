-- Command `assign_topic`: sets the trace's topic and subtopic (the latest
-- assignment wins) -> event lw.obs.trace.topic_assigned.

local es = require("esengine")
local events = require("schemas.events")
local schemas = require("schemas.commands")

return {
  schema = schemas.assign_topic,
  aggregate_id = function(payload) return payload.trace_id end,
  handle = function(command)
    local p = command.data
    return {
      es.event(events.TOPIC_ASSIGNED, {
        topic_id = p.topic_id,
        topic_name = p.topic_name,
        subtopic_id = p.subtopic_id,
        subtopic_name = p.subtopic_name,
      }, { version = events.VERSIONS[events.TOPIC_ASSIGNED] }),
    }
  end,
}
