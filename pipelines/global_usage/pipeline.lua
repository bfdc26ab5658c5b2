-- global_usage: per-tenant daily usage folds fed by the events of the other
-- pipelines (keyed by tenant and UTC day, not by aggregate). No commands of
-- its own.

local es = require("esengine")

return es.define_pipeline()
  :with_name("global_usage")
  :with_aggregate_type("global_usage")
  :with_fold_projection("project_daily_billable_events",
    require("projections.project_daily_billable_events"))
  :with_fold_projection("project_daily_sdk_usage", require("projections.project_daily_sdk_usage"))
  :build()
