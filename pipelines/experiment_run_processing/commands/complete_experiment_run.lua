-- Command `complete_experiment_run`: the run finished (or was stopped:
-- stopped = true) -> lw.experiment_run.completed, stored once per run.

local es = require("esengine")
local events = require("schemas.events")
local schemas = require("schemas.commands")

return {
  schema = schemas.complete_experiment_run,
  aggregate_id = function(p) return p.run_id end,
  handle = function(command)
    local p = command.data
    return {
      es.event(events.COMPLETED, { run_id = p.run_id, stopped = p.stopped == true },
        { version = events.VERSIONS[events.COMPLETED], idempotency_key = p.run_id .. ":completed" }),
    }
  end,
}
