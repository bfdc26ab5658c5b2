-- testing_spec.lua: esengine.testing, the harness pipeline authors use,
-- driving the real C core (build/esengine_core.so) on the fixture
-- pipelines. It doubles as the example of a pipeline spec. Pending when the
-- C module is not built.
local has_core = pcall(require, "esengine_core")
local testing = require("esengine.testing")

local FIXTURES = "spec/lua/fixtures/pipelines"
local NOW = 1700000000000
local DAY = math.floor(NOW / 86400000)

if not has_core then
  describe("esengine.testing", function()
    pending("build/esengine_core.so is not built (cmake --build build)")
  end)
  return
end

describe("esengine.testing", function()
  local eng

  before_each(function()
    eng = testing.new{ pipelines = FIXTURES, now = NOW, tenant = "t1" }
  end)

  after_each(function()
    eng:close()
  end)

  it("sends a command, drains, and reads state, records and events", function()
    assert.is_string(eng:send("orders", "place_order", { order_id = "o1", amount = 5, note = "hi" }))
    assert.is_true(eng:drain() > 0)
    local state, last_seq = eng:state("orders", "order_summary", "o1")
    assert.same({ count = 2, total = 5, last_seq = 2 }, state)
    assert.equal(2, last_seq)
    assert.same({ { order_id = "o1", amount = 5, event_id = eng:events("order", "o1")[1].id } },
      eng:records("orders", "order_lines"))
    local events = eng:events("order", "o1")
    assert.same({ 1, 2 }, { events[1].seq, events[2].seq })
    assert.same({ "order.placed", "order.noted" }, { events[1].type, events[2].type })
    assert.equal(NOW, events[1].occurred_at)
    assert.equal(5, events[2].occurred_at)
  end)

  it("appends an event once per idempotency key", function()
    eng:send("orders", "place_order", { order_id = "o1", amount = 5 })
    eng:send("orders", "place_order", { order_id = "o1", amount = 7 })
    eng:drain()
    assert.equal(1, #eng:events("order", "o1"))
    assert.same({ count = 1, total = 5, last_seq = 1 }, (eng:state("orders", "order_summary", "o1")))
  end)

  it("returns the failing paths of an invalid payload", function()
    local job_id, err = eng:send("orders", "place_order", { order_id = 1 })
    assert.is_nil(job_id)
    assert.same({
      { path = "amount", message = "amount: missing (expected integer)" },
      { path = "order_id", message = "order_id: expected string, got integer" },
    }, err.errors)
    assert.equal("amount: missing (expected integer); order_id: expected string, got integer", err.message)
  end)

  it("sends many commands in one call, all or none", function()
    local ids = eng:send_many("orders", "place_order", {
      { order_id = "o1", amount = 5 }, { order_id = "o2", amount = 6 }, '{"order_id":"o3","amount":7}',
    })
    assert.equal(3, #ids)
    eng:drain()
    for i, order in ipairs({ "o1", "o2", "o3" }) do
      assert.same({ count = 1, total = 4 + i, last_seq = 1 }, (eng:state("orders", "order_summary", order)))
    end

    local none, err = eng:send_many("orders", "place_order", {
      { order_id = "o4", amount = 1 }, { order_id = 1 }, { order_id = "o5", amount = 1 },
    })
    assert.is_nil(none)
    assert.equal(2, err.index)
    assert.same({ path = "order_id", message = "order_id: expected string, got integer" }, err.errors[2])
    eng:drain()
    assert.same({}, eng:events("order", "o4"))
  end)

  it("runs delayed reactors once the clock moves, dispatching into another pipeline", function()
    eng:send("orders", "place_order", { order_id = "o1", amount = 5 })
    eng:drain()
    assert.same({}, eng:events("account", "o1"))
    eng:advance(250)
    eng:drain()
    local charged = eng:events("account", "o1")
    assert.equal(1, #charged)
    assert.same({ amount = 5 }, charged[1].data)
  end)

  it("folds a command resent with its id once, into a keyed fold too", function()
    for _ = 1, 2 do
      assert.is_string(eng:send("orders", "place_order", { order_id = "o1", amount = 5 }, { job_id = "client-1" }))
      eng:drain()
    end
    assert.same({ orders = 1 }, (eng:state("billing", "daily_orders", "t1:" .. DAY)))
    assert.same({ count = 1, total = 5, last_seq = 1 }, (eng:state("orders", "order_summary", "o1")))
    assert.equal(1, #eng:events("order", "o1"))
  end)

  it("feeds a keyed fold from another pipeline's events", function()
    eng:send("orders", "place_order", { order_id = "o1", amount = 5 })
    eng:send("orders", "place_order", { order_id = "o2", amount = 3 })
    eng:drain()
    assert.same({ orders = 2 }, (eng:state("billing", "daily_orders", "t1:" .. DAY)))
  end)

  it("keeps tenants apart", function()
    eng:send("orders", "place_order", { order_id = "o1", amount = 5 }, { tenant = "t2" })
    eng:drain()
    assert.is_nil(eng:state("orders", "order_summary", "o1"))
    assert.same({ count = 1, total = 5, last_seq = 1 }, (eng:state("orders", "order_summary", "o1", "t2")))
  end)

  it("raises on an unknown fold", function()
    assert.has_error(function() eng:state("orders", "nope", "o1") end)
  end)

  it("loads a single pipeline with only", function()
    local one = testing.new{ pipelines = FIXTURES, only = "notes", now = NOW }
    assert.is_string(one:send("notes", "write", { id = "n1", text = "a b" }))
    local _, err = one:send("orders", "place_order", { order_id = "o1", amount = 5 })
    assert.is_table(err)
    one:close()
  end)

  it("raises file:line when a pipeline fails to load", function()
    local root = os.tmpname()
    os.remove(root)
    os.execute("mkdir -p '" .. root .. "/broken'")
    local f = assert(io.open(root .. "/broken/pipeline.lua", "wb"))
    f:write("local x = 1\nerror('nope')\n")
    f:close()
    local ok, err = pcall(testing.new, { pipelines = root })
    os.execute("rm -rf '" .. root .. "'")
    assert.is_false(ok)
    assert.matches("broken/pipeline.lua:2: nope", err, 1, true)
  end)
end)
