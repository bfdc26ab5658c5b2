-- Command `start_experiment_run`: a run of an experiment over `total` dataset
-- rows and the given targets -> lw.experiment_run.started (stored once per
-- run: idempotency key run_id:started).

local es = require("esengine")
local events = require("schemas.events")
local schemas = require("schemas.commands")

return {
  schema = schemas.start_experiment_run,
  aggregate_id = function(p) return p.run_id end,
  handle = function(command)
    local p = command.data
    return {
      es.event(events.STARTED, {
        run_id = p.run_id, experiment_id = p.experiment_id, name = p.name,
        total = p.total, targets = p.targets,
      }, { version = events.VERSIONS[events.STARTED], idempotency_key = p.run_id .. ":started" }),
    }
  end,
}
