-- Command `message_snapshot`: the full message list of the run so far (it
-- replaces the previous one) -> lw.simulation_run.messages_snapshot.
-- trace_ids: the payload's list plus any message's trace_id, sorted, unique.

local es = require("esengine")
local events = require("schemas.events")
local schemas = require("schemas.commands")

local function trace_ids(p)
  local seen, out = {}, {}
  local function add(id)
    if type(id) == "string" and id ~= "" and not seen[id] then
      seen[id] = true
      out[#out + 1] = id
    end
  end
  for _, id in ipairs(p.trace_ids or {}) do add(id) end
  for _, m in ipairs(p.messages) do
    if type(m) == "table" then add(m.trace_id) end
  end
  table.sort(out)
  return out
end

return {
  schema = schemas.message_snapshot,
  aggregate_id = function(p) return p.scenario_run_id end,
  handle = function(command)
    local p = command.data
    return {
      es.event(events.MESSAGES_SNAPSHOT, { messages = p.messages, trace_ids = trace_ids(p) },
        { version = events.VERSIONS[events.MESSAGES_SNAPSHOT] }),
    }
  end,
}
