-- builder_spec.lua: es.define_pipeline() and its build() errors, es.event,
-- es.stores.
local es = require("esengine")
local s = es.schema

local function fold()
  return { init = function() return {} end, apply = function(state) return state end }
end

local function command()
  return { schema = s.object{ id = s.string() }, aggregate_id = function(p) return p.id end, handle = function() return {} end }
end

local function base()
  return es.define_pipeline():with_name("p"):with_aggregate_type("thing")
end

-- The message build() raises, without its "file:line: " prefix.
local function build_error(b)
  local ok, err = pcall(b.build, b)
  assert.is_false(ok, "build() should have failed")
  return (tostring(err):gsub("^[^:]+:%d+: ", ""))
end

describe("es.define_pipeline", function()
  it("builds a pipeline with every component kind", function()
    local p = base()
      :with_fold_projection("summary", fold())
      :with_fold_projection("daily", {
        init = fold().init, apply = fold().apply, key = function() return "k" end,
        event_types = { "a", "b" }, version = "2024-01-01", store = es.stores.table("daily_totals"),
      })
      :with_map_projection("rows", { event_types = { "a" }, map = function(e) return e end })
      :with_reactor("summary", "notify", { handle = function() end, options = { delay = 10 } })
      :with_command("create", command())
      :with_kill_switch()
      :build()
    assert.equal("p", p.name)
    assert.equal("thing", p.aggregate_type)
    assert.same({ "summary", "daily" }, p.fold_order)
    assert.equal("p_summary", p.folds.summary.table)
    assert.equal("table", p.folds.summary.store_kind)
    assert.equal("daily_totals", p.folds.daily.table)
    assert.same({ a = true, b = true }, p.folds.daily.accepts)
    assert.is_nil(p.folds.summary.accepts)
    assert.equal("2024-01-01", p.folds.daily.version)
    assert.same({ a = true }, p.maps.rows.accepts)
    assert.equal("summary", p.reactors.notify.fold)
    assert.equal(10, p.reactors.notify.options.delay)
    assert.same({ "create" }, p.command_order)
    assert.same({ mode = "hold" }, p.kill_switch)
  end)

  it("checks the kill switch definition", function()
    local function with(def)
      return es.define_pipeline():with_name("p"):with_aggregate_type("t")
        :with_command("c", command()):with_kill_switch(def)
    end
    assert.same({ mode = "reject" }, with({ mode = "reject" }):build().kill_switch)
    assert.matches('kill switch mode must be "hold" or "reject", got stop',
      build_error(with({ mode = "stop" })), 1, true)
    assert.matches("kill switch has an unknown field flag", build_error(with({ flag = true })), 1, true)
    assert.matches("kill switch definition must be a table", build_error(with("reject")), 1, true)
  end)

  it("requires a name and an aggregate type", function()
    local msg = build_error(es.define_pipeline())
    assert.matches("missing name", msg, 1, true)
    assert.matches("missing aggregate type", msg, 1, true)
    assert.matches("name must be an identifier", build_error(es.define_pipeline():with_name("a b"):with_aggregate_type("t")), 1, true)
  end)

  it("rejects duplicate component names", function()
    assert.matches("duplicate name 'x': map projection 'x' and fold projection 'x'",
      build_error(base():with_fold_projection("x", fold()):with_map_projection("x", { event_types = { "a" }, map = print })), 1, true)
    assert.matches("duplicate name 'c': command 'c' and command 'c'",
      build_error(base():with_command("c", command()):with_command("c", command())), 1, true)
  end)

  it("rejects a reactor on a missing fold", function()
    assert.matches("reactor 'r' is attached to fold 'nope', which does not exist",
      build_error(base():with_reactor("nope", "r", { handle = print })), 1, true)
  end)

  it("names each missing required function", function()
    assert.matches("fold projection 'f' is missing init (a function)",
      build_error(base():with_fold_projection("f", { apply = print })), 1, true)
    assert.matches("fold projection 'f' is missing apply (a function)",
      build_error(base():with_fold_projection("f", { init = print })), 1, true)
    assert.matches("map projection 'm' is missing map (a function)",
      build_error(base():with_map_projection("m", { event_types = { "a" } })), 1, true)
    assert.matches("map projection 'm' is missing event_types",
      build_error(base():with_map_projection("m", { map = print })), 1, true)
    assert.matches("reactor 'r' is missing handle (a function)",
      build_error(base():with_fold_projection("f", fold()):with_reactor("f", "r", {})), 1, true)
    local c = command()
    c.schema = nil
    assert.matches("command 'c' is missing schema", build_error(base():with_command("c", c)), 1, true)
    c = command()
    c.aggregate_id = "id"
    assert.matches("command 'c' is missing aggregate_id (a function)", build_error(base():with_command("c", c)), 1, true)
    c = command()
    c.handle = nil
    assert.matches("command 'c' is missing handle (a function)", build_error(base():with_command("c", c)), 1, true)
  end)

  it("checks definitions, options and stores", function()
    assert.matches("definition must be a table", build_error(base():with_fold_projection("f", nil)), 1, true)
    local f = fold()
    f.key = "tenant"
    assert.matches("key must be a function", build_error(base():with_fold_projection("f", f)), 1, true)
    f = fold()
    f.event_types = { "a", 5 }
    assert.matches("event_types[2] must be a non-empty string", build_error(base():with_fold_projection("f", f)), 1, true)
    f = fold()
    f.store = { get = print }
    assert.matches("custom store is missing store (a function)", build_error(base():with_fold_projection("f", f)), 1, true)
    assert.matches('options.dedup must be "debounce" or "throttle"', build_error(base():with_fold_projection("f", fold())
      :with_reactor("f", "r", { handle = print, options = { dedup = "sometimes", job_id = print } })), 1, true)
    assert.matches("options.dedup needs options.job_id", build_error(base():with_fold_projection("f", fold())
      :with_reactor("f", "r", { handle = print, options = { dedup = "debounce" } })), 1, true)
  end)

  it("reports every problem at once, prefixed by the pipeline", function()
    local msg = build_error(base():with_fold_projection("f", {}):with_command("c", {}))
    assert.matches("^pipeline 'p': ", msg)
    assert.matches("fold projection 'f' is missing init", msg, 1, true)
    assert.matches("command 'c' is missing handle", msg, 1, true)
  end)

  it("locates the error at the faulty component, else at build() or define_pipeline()", function()
    local define_line, with_line
    local ok, err = pcall(function()
      define_line = debug.getinfo(1, "l").currentline + 1
      return es.define_pipeline():with_name("p"):with_aggregate_type("t")
        :with_fold_projection("good", fold())
        :with_fold_projection("bad", {}) -- the faulty component
        :build()
    end)
    with_line = define_line + 2
    assert.is_false(ok)
    assert.matches("builder_spec%.lua:" .. with_line .. ": pipeline 'p': fold projection 'bad'", err)
    ok, err = pcall(function()
      return es.define_pipeline() -- a tail-called build() leaves only this line
        :build()
    end)
    assert.is_false(ok)
    assert.matches("builder_spec%.lua:%d+: pipeline: missing name", err)
    ok, err = pcall(function()
      local b = es.define_pipeline()
      local built = b:build()
      return built
    end)
    assert.is_false(ok)
    assert.matches("builder_spec%.lua:%d+: pipeline: missing name", err)
  end)

  it("accepts custom stores", function()
    local p = base()
      :with_fold_projection("f", { init = print, apply = print, store = { get = print, store = print } })
      :with_map_projection("m", { event_types = { "a" }, map = print, store = { append = print } })
      :build()
    assert.equal("custom", p.folds.f.store_kind)
    assert.is_nil(p.folds.f.table)
    assert.equal("custom", p.maps.m.store_kind)
  end)
end)

describe("es.event", function()
  it("fills defaults", function()
    assert.same({ type = "a.b", data = {}, metadata = {}, version = "v1" }, es.event("a.b"))
  end)

  it("keeps options", function()
    local e = es.event("a.b", { x = 1 }, { version = "2024-01-01", occurred_at = 5, idempotency_key = "k", metadata = { m = 1 } })
    assert.same({ type = "a.b", data = { x = 1 }, version = "2024-01-01", occurred_at = 5, idempotency_key = "k", metadata = { m = 1 } }, e)
  end)

  it("rejects bad arguments", function()
    assert.has_error(function() es.event("") end)
    assert.has_error(function() es.event("a", "data") end)
    assert.has_error(function() es.event("a", {}, { colour = "red" }) end)
    assert.has_error(function() es.event("a", {}, { occurred_at = "now" }) end)
    assert.has_error(function() es.event("a", {}, { occurred_at = 1.5 }) end)
    assert.has_error(function() es.event("a", {}, { idempotency_key = "" }) end)
  end)
end)

describe("es.stores.table", function()
  it("returns a marker with columns", function()
    local t = es.stores.table("totals", { columns = { total = "UInt64", name = "String" } })
    assert.equal("totals", t.table)
    assert.same({ total = "UInt64", name = "String" }, t.columns)
    assert.is_true(es.stores.is_table(t))
    assert.is_false(es.stores.is_table({ kind = "table", table = "totals" }))
  end)

  it("rejects bad names and column types", function()
    assert.has_error(function() es.stores.table("bad name") end)
    assert.has_error(function() es.stores.table("t", { columns = { x = "DateTime64" } }) end)
    assert.has_error(function() es.stores.table("t", { columns = { ["x; drop"] = "String" } }) end)
  end)
end)
