-- trace_processing: OTLP spans -> per-trace summaries, stored spans, and
-- evaluation triggers. Aggregate `trace`, id = OTLP trace id (lowercase hex).

local es = require("esengine")

return es.define_pipeline()
  :with_name("trace_processing")
  :with_aggregate_type("trace")
  :with_fold_projection("trace_summary", require("projections.trace_summary"))
  :with_map_projection("stored_spans", require("projections.stored_spans"))
  :with_reactor("trace_summary", "evaluation_trigger", require("reactors.evaluation_trigger"))
  :with_command("record_span", require("commands.record_span"))
  :with_command("assign_topic", require("commands.assign_topic"))
  :with_command("assign_satisfaction_score", require("commands.assign_satisfaction_score"))
  :build()
