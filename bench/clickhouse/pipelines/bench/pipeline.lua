-- bench: the end-to-end ClickHouse benchmark's pipeline: one command handler
-- emitting one event (a ~400-byte event row with its ids and metadata), one
-- fold (count and sum per aggregate), one map (a record per event).
local es = require("esengine")
local s = es.schema

return es.define_pipeline()
  :with_name("bench")
  :with_aggregate_type("trace")
  :with_command("add", {
    schema = s.object({ id = s.string(), amount = s.integer(), note = s.string() }),
    aggregate_id = function(payload) return payload.id end,
    handle = function(command)
      return { es.event("bench.span_received", { amount = command.data.amount, note = command.data.note }) }
    end,
  })
  :with_fold_projection("totals", {
    event_types = { "bench.span_received" },
    store = es.stores.table("bench_totals"),
    init = function() return { count = 0, sum = 0 } end,
    apply = function(state, event)
      state.count = state.count + 1
      state.sum = state.sum + event.data.amount
      return state
    end,
  })
  :with_map_projection("rows", {
    event_types = { "bench.span_received" },
    store = es.stores.table("bench_rows"),
    map = function(event) return { id = event.aggregate_id, seq = event.seq, amount = event.data.amount } end,
  })
  :build()
