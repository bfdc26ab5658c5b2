-- Command `finish_run`: the run's verdict -> lw.simulation_run.finished.
-- status, when not given: "error" if error is set, else "success" for the
-- verdict success, else "failure" (verdict failure or inconclusive).

local es = require("esengine")
local events = require("schemas.events")
local schemas = require("schemas.commands")

local function status_of(p)
  if p.status then return p.status end
  if p.error then return "error" end
  if p.verdict == "success" then return "success" end
  return "failure"
end

return {
  schema = schemas.finish_run,
  aggregate_id = function(p) return p.scenario_run_id end,
  handle = function(command)
    local p = command.data
    return {
      es.event(events.FINISHED, {
        status = status_of(p), verdict = p.verdict, reasoning = p.reasoning,
        met_criteria = p.met_criteria, unmet_criteria = p.unmet_criteria, error = p.error,
      }, { version = events.VERSIONS[events.FINISHED], idempotency_key = p.scenario_run_id .. ":finished" }),
    }
  end,
}
