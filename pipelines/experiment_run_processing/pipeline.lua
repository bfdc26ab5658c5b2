-- experiment_run_processing: experiment runs (a dataset run through targets
-- and scored by evaluators). Aggregate `experiment_run`, id = run id.

local es = require("esengine")

return es.define_pipeline()
  :with_name("experiment_run_processing")
  :with_aggregate_type("experiment_run")
  :with_fold_projection("experiment_run", require("projections.experiment_run"))
  :with_map_projection("experiment_run_items", require("projections.experiment_run_items"))
  :with_command("start_experiment_run", require("commands.start_experiment_run"))
  :with_command("record_target_result", require("commands.record_target_result"))
  :with_command("record_evaluator_result", require("commands.record_evaluator_result"))
  :with_command("complete_experiment_run", require("commands.complete_experiment_run"))
  :build()
