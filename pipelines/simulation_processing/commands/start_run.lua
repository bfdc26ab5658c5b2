-- Command `start_run`: a scenario run begins -> lw.simulation_run.started
-- (stored once per run).

local es = require("esengine")
local events = require("schemas.events")
local schemas = require("schemas.commands")

return {
  schema = schemas.start_run,
  aggregate_id = function(p) return p.scenario_run_id end,
  handle = function(command)
    local p = command.data
    return {
      es.event(events.STARTED, {
        scenario_run_id = p.scenario_run_id, scenario_id = p.scenario_id,
        batch_run_id = p.batch_run_id, scenario_set_id = p.scenario_set_id,
        name = p.name, description = p.description,
      }, { version = events.VERSIONS[events.STARTED], idempotency_key = p.scenario_run_id .. ":started" }),
    }
  end,
}
