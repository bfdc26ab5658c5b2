-- Command `delete_run`: soft delete -> lw.simulation_run.deleted (the fold
-- keeps the run, marked deleted with deleted_at).

local es = require("esengine")
local events = require("schemas.events")
local schemas = require("schemas.commands")

return {
  schema = schemas.delete_run,
  aggregate_id = function(p) return p.scenario_run_id end,
  handle = function(command)
    return {
      es.event(events.DELETED, {}, { version = events.VERSIONS[events.DELETED],
        idempotency_key = command.data.scenario_run_id .. ":deleted" }),
    }
  end,
}
