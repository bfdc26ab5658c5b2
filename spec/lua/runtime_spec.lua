-- runtime_spec.lua: the trusted layer the C core calls, against the fixture
-- pipelines in spec/lua/fixtures/pipelines (orders, billing with a keyed
-- fold fed by orders, notes on custom stores).
local cjson = require("cjson")
local rt = require("esengine.runtime")

local FIXTURES = "spec/lua/fixtures/pipelines"

-- An event as the C core hands it to run_fold / run_map / run_reactor: an
-- event row (rt.EVENT_FIELDS), from the fields below and overrides.
local function raw_event(seq, data, overrides)
  local ev = {
    id = "e" .. seq, tenant_id = "t1", aggregate_type = "order", aggregate_id = "o1", seq = seq,
    type = "order.placed", version = "v1", occurred_at = 1000, created_at = 2000,
    idempotency_key = "k" .. seq, data_json = cjson.encode(data or {}), metadata_json = "{}",
  }
  for k, v in pairs(overrides or {}) do
    ev[k] = v
  end
  local row = {}
  for i, field in ipairs(rt.EVENT_FIELDS) do
    row[i] = ev[field]
  end
  return row
end

local function prepared(gen, tenant, pipeline, command, payload)
  local ok, aggregate_id, command_json = rt.prepare_command(gen, tenant, pipeline, command, cjson.encode(payload))
  assert.is_true(ok, tostring(command_json))
  return command_json, aggregate_id
end

describe("runtime", function()
  local gen

  before_each(function()
    gen = rt.load(FIXTURES)
  end)

  describe("load", function()
    it("loads every pipeline folder, sorted, with a stable content hash", function()
      assert.same({ "billing", "notes", "orders" }, gen.order)
      assert.equal("orders", gen.pipelines.orders.name)
      assert.equal("orders", gen.dirs.orders)
      assert.is_string(gen.hash)
      assert.equal(gen.hash, rt.load(FIXTURES .. "/").hash)
      assert.is_string(gen.hashes.orders)
      assert.are_not.equal(gen.hashes.orders, gen.hashes.billing)
    end)

    it("loads one pipeline", function()
      local one = rt.load_one(FIXTURES, "orders")
      assert.same({ "orders" }, one.order)
      assert.equal(gen.hashes.orders, one.hashes.orders)
    end)

    it("summarises pipelines", function()
      local summary = rt.summary(gen)
      assert.equal(3, #summary)
      local orders = summary[3]
      assert.same({ "place_order", "fail_order" }, orders.commands)
      assert.equal("orders", orders.name)
      assert.equal("order", orders.aggregate_type)
      local fold = orders.folds[1]
      assert.same({ "order_summary", "order_summaries", false, false, "2024-06-01" },
        { fold.name, fold.table, fold.keyed, fold.custom, fold.version })
      assert.same({ total = "UInt64" }, fold.columns)
      assert.same({ "order_lines", "orders_order_lines", false },
        { orders.maps[1].name, orders.maps[1].table, orders.maps[1].custom })
      assert.same({ { fold = "order_summary", name = "charge_on_place" } }, orders.reactors)
      local daily = summary[1].folds[1]
      assert.same({ "daily_orders", "billing_daily_orders", true, false },
        { daily.name, daily.table, daily.keyed, daily.custom })
      local words = summary[2].folds[1]
      assert.same({ "word_count", false, true }, { words.name, words.keyed, words.custom })
    end)

    it("describes components", function()
      assert.same({ table = "order_summaries", custom = false, keyed = false }, rt.fold_info(gen, "orders", "order_summary"))
      assert.same({ table = "billing_daily_orders", custom = false, keyed = true }, rt.fold_info(gen, "billing", "daily_orders"))
      assert.same({ custom = true, keyed = false }, rt.fold_info(gen, "notes", "word_count"))
      assert.same({ table = "orders_order_lines", custom = false }, rt.map_info(gen, "orders", "order_lines"))
      assert.same({ nil, "unknown fold nope in pipeline orders" }, { rt.fold_info(gen, "orders", "nope") })
      assert.same({ nil, "unknown pipeline nope" }, { rt.map_info(gen, "nope", "x") })
    end)

    describe("errors", function()
      local root

      local function write(rel, content)
        local path = root .. "/" .. rel
        os.execute("mkdir -p '" .. path:match("^(.*)/[^/]+$") .. "'")
        local f = assert(io.open(path, "wb"))
        f:write(content)
        f:close()
      end

      local function pipeline_src(name, aggregate)
        return "local es = require('esengine')\nreturn es.define_pipeline():with_name('" .. name
          .. "'):with_aggregate_type('" .. aggregate .. "'):build()\n"
      end

      before_each(function()
        root = os.tmpname()
        os.remove(root)
        os.execute("mkdir -p '" .. root .. "'")
      end)

      after_each(function()
        os.execute("rm -rf '" .. root .. "'")
      end)

      it("skips folders without pipeline.lua and hidden folders", function()
        write("a/pipeline.lua", pipeline_src("a", "a"))
        write("docs/readme.lua", "error('not a pipeline')")
        write(".hidden/pipeline.lua", "error('hidden')")
        assert.same({ "a" }, rt.load(root).order)
      end)

      it("rejects duplicate pipeline names and aggregate types", function()
        write("a/pipeline.lua", pipeline_src("same", "x"))
        write("b/pipeline.lua", pipeline_src("same", "y"))
        local ok, err = pcall(rt.load, root)
        assert.is_false(ok)
        assert.equal(root .. "/b/pipeline.lua: duplicate pipeline name 'same' (also declared in " .. root .. "/a/pipeline.lua)", err)
        write("b/pipeline.lua", pipeline_src("other", "x"))
        ok, err = pcall(rt.load, root)
        assert.is_false(ok)
        assert.matches("b/pipeline.lua: aggregate type 'x' is already used by pipeline 'same'", err, 1, true)
      end)

      it("reports the first broken pipeline as file:line: message", function()
        write("a/pipeline.lua", pipeline_src("a", "a"))
        write("b/pipeline.lua", "local x = 1\nerror('broken here')\n")
        local ok, err = pcall(rt.load, root)
        assert.is_false(ok)
        -- chunk names start at the pipelines dir's own name
        assert.equal(root:match("[^/]+$") .. "/b/pipeline.lua:2: broken here", err)
      end)

      it("fails on a missing directory", function()
        assert.has_error(function() rt.load(root .. "/nope") end)
        assert.has_error(function() rt.load_one(root, "nope") end)
      end)
    end)
  end)

  describe("prepare_command", function()
    it("validates and returns the aggregate id and the command job", function()
      local ok, aggregate_id, command_json = rt.prepare_command(gen, "t1", "orders", "place_order", '{"order_id":"o1","amount":5}')
      assert.is_true(ok)
      assert.equal("o1", aggregate_id)
      assert.same({ tenant_id = "t1", pipeline = "orders", command = "place_order", aggregate_id = "o1",
        data = { order_id = "o1", amount = 5 } }, cjson.decode(command_json))
    end)

    it("returns a code for each failure", function()
      assert.same({ false, "unknown_pipeline", "unknown pipeline 'nope'" },
        { rt.prepare_command(gen, "t1", "nope", "x", "{}") })
      assert.same({ false, "unknown_command", "pipeline 'orders' has no command 'nope'" },
        { rt.prepare_command(gen, "t1", "orders", "nope", "{}") })
      local ok, code = rt.prepare_command(gen, "t1", "orders", "place_order", "{not json")
      assert.same({ false, "invalid_json" }, { ok, code })
      local ok2, code2, message, errors = rt.prepare_command(gen, "t1", "orders", "place_order", '{"amount":"5"}')
      assert.same({ false, "invalid_payload" }, { ok2, code2 })
      assert.equal("amount: expected integer, got string; order_id: missing (expected string)", message)
      assert.same({
        { path = "amount", message = "amount: expected integer, got string" },
        { path = "order_id", message = "order_id: missing (expected string)" },
      }, errors)
      local ok3, code3, message3 = rt.prepare_command(gen, "t1", "orders", "fail_order", '{"order_id":"o","mode":"bad_id"}')
      assert.same({ false, "script_error" }, { ok3, code3 })
      assert.matches("pipeline orders command fail_order: aggregate_id must return a non-empty string, got nil", message3, 1, true)
      local _, code4, message4 = rt.prepare_command(gen, "t1", "orders", "fail_order", '{"order_id":"o","mode":"raise_id"}')
      assert.equal("script_error", code4)
      assert.matches("orders/commands/fail_order.lua:%d+: no id for you", message4)
      local _, code5 = rt.prepare_command(gen, "", "orders", "place_order", '{"order_id":"o1","amount":5}')
      assert.equal("invalid_payload", code5)
    end)
  end)

  describe("handle_command", function()
    it("returns events with defaults and routes, including a keyed fold of another pipeline", function()
      local events = rt.handle_command(gen, prepared(gen, "t1", "orders", "place_order",
        { order_id = "o1", amount = 5, note = "hi" }))
      assert.equal(2, #events)
      local placed, noted = events[1], events[2]
      assert.equal("t1", placed.tenant_id)
      assert.equal("order", placed.aggregate_type)
      assert.equal("o1", placed.aggregate_id)
      assert.equal("order.placed", placed.type)
      assert.equal("v1", placed.version)
      assert.is_number(placed.occurred_at)
      assert.equal("place:o1", placed.idempotency_key)
      assert.same({ amount = 5 }, cjson.decode(placed.data_json))
      assert.equal("{}", placed.metadata_json)
      local day = math.floor(placed.occurred_at / 86400000)
      -- routes without a key are keyed by the event's aggregate (C core)
      assert.same({
        { kind = "fold", pipeline = "orders", component = "order_summary" },
        { kind = "map", pipeline = "orders", component = "order_lines" },
        { kind = "fold", pipeline = "billing", component = "daily_orders", key = "t1:" .. day, keyed = true },
      }, placed.routes)
      assert.equal("2024-01-01", noted.version)
      assert.equal(5, noted.occurred_at)
      assert.is_nil(noted.idempotency_key)
      assert.same({ { kind = "fold", pipeline = "orders", component = "order_summary" } }, noted.routes)
    end)

    it("skips a keyed fold whose key function returns nil", function()
      local events = rt.handle_command(gen, prepared(gen, "t1", "orders", "place_order", { order_id = "o2", amount = 0 }))
      assert.same({
        { kind = "fold", pipeline = "orders", component = "order_summary" },
        { kind = "map", pipeline = "orders", component = "order_lines" },
      }, events[1].routes)
    end)

    it("routes only a pipeline's own events to its unkeyed folds", function()
      local events = rt.handle_command(gen, prepared(gen, "t1", "notes", "write", { id = "n1", text = "a b" }))
      assert.same({
        { kind = "fold", pipeline = "notes", component = "word_count" },
        { kind = "map", pipeline = "notes", component = "texts" },
      }, events[1].routes)
    end)

    it("raises naming pipeline, command, file:line and a traceback", function()
      local ok, err = pcall(rt.handle_command, gen, prepared(gen, "t1", "orders", "fail_order", { order_id = "o", mode = "raise" }))
      assert.is_false(ok)
      assert.matches("^pipeline orders command fail_order: .*orders/commands/fail_order%.lua:%d+: handler exploded", err)
      assert.matches("stack traceback:", err, 1, true)
    end)

    it("rejects wrong result shapes", function()
      local ok, err = pcall(rt.handle_command, gen, prepared(gen, "t1", "orders", "fail_order", { order_id = "o", mode = "nil" }))
      assert.is_false(ok)
      assert.equal("pipeline orders command fail_order: handle must return a list of events, got nil", err)
      ok, err = pcall(rt.handle_command, gen, prepared(gen, "t1", "orders", "fail_order", { order_id = "o", mode = "bad_event" }))
      assert.is_false(ok)
      assert.equal("pipeline orders command fail_order: event 1 has no type (build events with es.event(type, data))", err)
      ok, err = pcall(rt.handle_command, gen, prepared(gen, "t1", "orders", "fail_order", { order_id = "o", mode = "list_data" }))
      assert.is_false(ok)
      assert.equal("pipeline orders command fail_order: event 1 (order.listed): data must be an object (a table with string keys), got a list", err)
    end)

    it("rejects a job for an unknown command", function()
      assert.has_error(function()
        rt.handle_command(gen, cjson.encode({ tenant_id = "t1", pipeline = "orders", command = "gone", aggregate_id = "o", data = {} }))
      end, "handle_command: unknown command gone in pipeline orders")
    end)

    it("gives the same events from the envelope's parts (handle_command_parts)", function()
      local cmd = cjson.decode((prepared(gen, "t1", "orders", "place_order", { order_id = "o1", amount = 5, note = "hi" })))
      local whole = rt.handle_command(gen, cjson.encode(cmd))
      local parts = rt.handle_command_parts(gen, cmd.tenant_id, cmd.pipeline, cmd.command,
        cmd.aggregate_id, cjson.encode(cmd.data))
      for i = 1, 2 do
        whole[i].occurred_at, parts[i].occurred_at = nil, nil
      end
      assert.same(whole, parts)
      assert.has_error(function()
        rt.handle_command_parts(gen, "t1", "orders", "place_order", "o1", "{bad")
      end)
      local ok, err = pcall(rt.handle_command_parts, gen, "t1", "orders", "gone", "o", "{}")
      assert.is_false(ok)
      assert.equal("handle_command: unknown command gone in pipeline orders", err)
    end)

    it("handles a claim's commands in one call up to the first that fails (handle_commands_parts)", function()
      local json = prepared(gen, "t1", "orders", "place_order", { order_id = "o1", amount = 5 })
      local cmd = cjson.decode(json)
      local data = cjson.encode(cmd.data)
      local parts = { "t1", "orders", "place_order", "o1", data, false, false, false, false, json,
                      "t1", "orders", "gone", "o1", "{}", "t1", "orders", "place_order", "o1", data }
      local results, err, index = rt.handle_commands_parts(gen, parts, 4)
      assert.equal(3, index)
      assert.equal("handle_command: unknown command gone in pipeline orders", err)
      assert.equal(2, #results)
      assert.equal("order.placed", results[1][1].type)
      assert.equal(results[1][1].data_json, results[2][1].data_json)
      local all, none = rt.handle_commands_parts(gen, parts, 2)
      assert.equal(2, #all)
      assert.is_nil(none)
    end)
  end)

  describe("run_fold", function()
    it("folds a batch from init and reports a reactor job per event", function()
      local state_json, n, jobs, err = rt.run_fold(gen, "orders", "order_summary", nil,
        { raw_event(1, { amount = 5 }), raw_event(2, { amount = 7 }) })
      assert.is_nil(err)
      assert.equal(2, n)
      assert.same({ count = 2, total = 12, last_seq = 2 }, cjson.decode(state_json))
      assert.equal(2, #jobs)
      assert.same({ reactor = "charge_on_place", index = 1, delay = 250, dedup = "debounce", job_id = "charge:o1:1" },
        { reactor = jobs[1].reactor, index = jobs[1].index, delay = jobs[1].delay, dedup = jobs[1].dedup, job_id = jobs[1].job_id })
      assert.same({ count = 1, total = 5, last_seq = 1 }, cjson.decode(jobs[1].state_json))
      assert.same({ count = 2, total = 12, last_seq = 2 }, cjson.decode(jobs[2].state_json))
      assert.equal("charge:o1:2", jobs[2].job_id)
    end)

    it("continues from a stored state", function()
      local state_json, n = rt.run_fold(gen, "orders", "order_summary", '{"count":4,"total":40}', { raw_event(5, { amount = 1 }) })
      assert.equal(1, n)
      assert.same({ count = 5, total = 41, last_seq = 5 }, cjson.decode(state_json))
    end)

    it("stops at a failing event with the state and reactor jobs of the events before it", function()
      local state_json, n, jobs, err = rt.run_fold(gen, "orders", "order_summary", nil, {
        raw_event(1, { amount = 5 }), raw_event(2, { amount = 7 }),
        raw_event(3, { mutate_then_explode = true }), raw_event(4, { amount = 1 }),
      })
      assert.equal(2, n)
      -- apply mutated the state in place before failing: that change is not kept
      assert.same({ count = 2, total = 12, last_seq = 2 }, cjson.decode(state_json))
      assert.equal(2, #jobs)
      assert.same({ 1, 2 }, { jobs[1].index, jobs[2].index })
      assert.matches("^pipeline orders fold order_summary event e3 %(seq 3, order%.placed%): .*order_summary%.lua:%d+: apply exploded after mutating", err)
      assert.matches("stack traceback:", err, 1, true)
    end)

    it("returns nothing applied when the first event fails", function()
      local state_json, n, jobs, err = rt.run_fold(gen, "orders", "order_summary", nil, { raw_event(1, { explode = true }) })
      assert.is_nil(state_json)
      assert.equal(0, n)
      assert.same({}, jobs)
      assert.matches("apply exploded", err, 1, true)
    end)

    it("rejects an apply that returns nil", function()
      local _, n, _, err = rt.run_fold(gen, "orders", "order_summary", nil, { raw_event(1, { amount = 1 }), raw_event(2, { return_nil = true }) })
      assert.equal(1, n)
      assert.equal("pipeline orders fold order_summary event e2 (seq 2, order.placed): apply must return the state table, got nil", err)
    end)

    it("reads and writes a custom store itself", function()
      local store = gen.pipelines.notes.folds.word_count.store
      local function note(seq, data)
        return raw_event(seq, data, { aggregate_type = "note", aggregate_id = "n1", type = "note.written" })
      end
      local state_json, n, jobs, err = rt.run_fold(gen, "notes", "word_count", nil, { note(1, { text = "a b" }), note(2, { text = "c" }) })
      assert.is_nil(err)
      assert.is_nil(state_json)
      assert.equal(2, n)
      assert.same({}, jobs)
      assert.same({ words = 3 }, store.states.n1)
      _, n, _, err = rt.run_fold(gen, "notes", "word_count", nil, { note(3, { text = "d e" }), note(4, { explode = true }) })
      assert.equal(1, n)
      assert.matches("cannot count", err, 1, true)
      assert.same({ words = 5 }, store.states.n1)
      assert.same({ "get t1/n1", "store t1/n1", "get t1/n1", "store t1/n1" }, store.calls)
    end)

    it("folds a keyed fold", function()
      local state_json, n = rt.run_fold(gen, "billing", "daily_orders", nil, { raw_event(1, { amount = 1 }), raw_event(1, { amount = 2 }, { aggregate_id = "o2" }) })
      assert.equal(2, n)
      assert.same({ orders = 2 }, cjson.decode(state_json))
    end)

    it("reports an unknown fold", function()
      assert.same({ nil, 0, {}, "unknown fold nope in pipeline orders" }, { rt.run_fold(gen, "orders", "nope", nil, {}) })
    end)
  end)

  describe("run_map", function()
    it("maps each event to a record, or false when map returns nil", function()
      local records, n, err = rt.run_map(gen, "orders", "order_lines", { raw_event(1, { amount = 5 }), raw_event(2, { amount = 0 }) })
      assert.is_nil(err)
      assert.equal(2, n)
      assert.same({ order_id = "o1", amount = 5, event_id = "e1" }, cjson.decode(records[1]))
      assert.is_false(records[2])
    end)

    it("stops at a failing event", function()
      local records, n, err = rt.run_map(gen, "orders", "order_lines", {
        raw_event(1, { amount = 5 }), raw_event(2, nil, { data_json = "{broken" }), raw_event(3, { amount = 1 }),
      })
      assert.equal(1, n)
      assert.equal(1, #records)
      assert.matches("pipeline orders map order_lines event e2 (seq 2, order.placed): bad event JSON", err, 1, true)
    end)

    it("appends to a custom store itself", function()
      local store = gen.pipelines.notes.maps.texts.store
      local records, n = rt.run_map(gen, "notes", "texts", { raw_event(1, { text = "x" }, { type = "note.written" }) })
      assert.equal(1, n)
      assert.same({ false }, records)
      assert.same({ { record = { text = "x" }, event_id = "e1" } }, store.records)
    end)
  end)

  describe("run_reactor", function()
    it("gives the reactor the fold state and collects validated dispatches for the event's tenant", function()
      local dispatched, err = rt.run_reactor(gen, "orders", "charge_on_place", raw_event(1, { amount = 5 }, { tenant_id = "t9" }),
        '{"count":1,"total":5}')
      assert.is_nil(err)
      assert.equal(1, #dispatched)
      assert.same({ pipeline = "billing", command = "charge", aggregate_id = "o1" },
        { pipeline = dispatched[1].pipeline, command = dispatched[1].command, aggregate_id = dispatched[1].aggregate_id })
      assert.same({ tenant_id = "t9", pipeline = "billing", command = "charge", aggregate_id = "o1",
        data = { account = "o1", amount = 5 } }, cjson.decode(dispatched[1].command_json))
    end)

    it("fails the reactor when it dispatches an invalid command", function()
      local dispatched, err = rt.run_reactor(gen, "orders", "charge_on_place", raw_event(1, { bad_dispatch = true }), '{"count":1,"total":5}')
      assert.is_nil(dispatched)
      assert.matches("charge_on_place%.lua:%d+: dispatch billing%.charge: invalid_payload: account: expected string, got integer", err)
    end)

    it("reports an unknown reactor", function()
      assert.same({ nil, "unknown reactor nope in pipeline orders" }, { rt.run_reactor(gen, "orders", "nope", raw_event(1), nil) })
    end)
  end)
end)
