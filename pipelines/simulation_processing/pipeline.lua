-- simulation_processing: scenario (agent simulation) runs.
-- Aggregate `simulation_run`, id = scenario run id.

local es = require("esengine")

return es.define_pipeline()
  :with_name("simulation_processing")
  :with_aggregate_type("simulation_run")
  :with_fold_projection("simulation_run", require("projections.simulation_run"))
  :with_command("start_run", require("commands.start_run"))
  :with_command("message_snapshot", require("commands.message_snapshot"))
  :with_command("finish_run", require("commands.finish_run"))
  :with_command("delete_run", require("commands.delete_run"))
  :build()
