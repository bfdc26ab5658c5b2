-- evaluation_processing: evaluations of traces, run by built-in evaluators
-- (execute_evaluation) or reported by external ones (start/complete).
-- Aggregate `evaluation`, id = evaluation id.

local es = require("esengine")

return es.define_pipeline()
  :with_name("evaluation_processing")
  :with_aggregate_type("evaluation")
  :with_fold_projection("evaluation_run", require("projections.evaluation_run"))
  :with_command("execute_evaluation", require("commands.execute_evaluation"))
  :with_command("start_evaluation", require("commands.start_evaluation"))
  :with_command("complete_evaluation", require("commands.complete_evaluation"))
  :build()
