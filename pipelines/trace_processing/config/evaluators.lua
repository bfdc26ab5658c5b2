-- Evaluators run on traces, per tenant: the evaluation_trigger reactor reads
-- this pipeline setting (see pipelines/README.md, "Evaluator configuration").
--
--   tenants[tenant_id] = list of evaluators for that tenant
--   default            = list for tenants not listed (empty: no evaluations)
--
-- An evaluator: { id (unique per tenant), type, name?, guardrail?, settings }
-- with a built-in type of evaluation_processing (utils/evaluators.lua):
--   exact_match { field = "input"|"output", value }
--   regex       { field, pattern }            (a Lua pattern)
--   length      { field, min?, max? }         (text length in bytes)
--   latency     { max_ms }                    (trace total duration)
-- Edits are picked up by hot reload like any pipeline script.

return {
  default = {},
  tenants = {
    -- the quick-start tenant: two checks on every trace
    demo = {
      { id = "output_not_empty", type = "length", name = "Output is not empty",
        settings = { field = "output", min = 1 } },
      { id = "fast_enough", type = "latency", name = "Trace under 10 s",
        settings = { max_ms = 10000 } },
    },
  },
}
