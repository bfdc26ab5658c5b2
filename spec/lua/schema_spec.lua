-- schema_spec.lua: es.schema types, optional, constraints, nested paths and
-- the listing of every failing path.
local cjson = require("cjson")
local s = require("esengine").schema

local function messages(schema, value)
  local ok, errors = schema:validate(value)
  if ok then
    return {}
  end
  local out = {}
  for i, e in ipairs(errors) do
    out[i] = e.message
  end
  return out
end

describe("es.schema", function()
  describe("scalar types", function()
    it("accepts the right type and names the wrong one", function()
      assert.is_true(s.string():validate("x"))
      assert.is_true(s.number():validate(1.5))
      assert.is_true(s.integer():validate(3))
      assert.is_true(s.boolean():validate(false))
      assert.same({ "expected string, got integer" }, messages(s.string(), 5))
      assert.same({ "expected number, got string" }, messages(s.number(), "5"))
      assert.same({ "expected integer, got number" }, messages(s.integer(), 1.5))
      assert.same({ "expected integer, got string" }, messages(s.integer(), "1"))
      assert.same({ "expected boolean, got string" }, messages(s.boolean(), "true"))
      assert.same({ "expected string, got object" }, messages(s.string(), { a = 1 }))
      assert.same({ "expected string, got array" }, messages(s.string(), { 1 }))
    end)

    it("any() accepts every present value but not a missing one", function()
      assert.is_true(s.any():validate({ 1, 2 }))
      assert.is_true(s.any():validate("x"))
      assert.same({ "missing (expected any)" }, messages(s.any(), nil))
    end)

    it("enum accepts listed values only", function()
      local e = s.enum{ "a", "b", 3 }
      assert.is_true(e:validate("a"))
      assert.is_true(e:validate(3))
      assert.same({ 'expected one of "a", "b", 3, got "c"' }, messages(e, "c"))
      assert.same({ 'expected one of "a", "b", 3, got boolean' }, messages(e, true))
    end)
  end)

  describe("optional", function()
    it("accepts nil and JSON null, and leaves the original schema required", function()
      local base = s.string()
      local opt = base:optional()
      assert.is_true(opt:validate(nil))
      assert.is_true(opt:validate(cjson.null))
      assert.same({ "expected string, got integer" }, messages(opt, 1))
      assert.same({ "missing (expected string)" }, messages(base, nil))
      assert.same({ "a: missing (expected string)" }, messages(s.object{ a = s.string() }, { a = cjson.null }))
    end)
  end)

  describe("constraints", function()
    it("checks string length and pattern", function()
      local name = s.string():min(2):max(4):pattern("^%l+$")
      assert.is_true(name:validate("abc"))
      assert.same({ "expected length >= 2, got 1" }, messages(name, "a"))
      assert.same({ "expected length <= 4, got 5", 'expected a string matching "^%l+$"' },
        messages(s.string():max(4):pattern("^%l+$"), "ABCDE"))
    end)

    it("checks numeric bounds and array sizes", function()
      assert.same({ "expected a value >= 0, got -1" }, messages(s.integer():min(0), -1))
      assert.same({ "expected a value <= 1, got 1.5" }, messages(s.number():max(1), 1.5))
      assert.same({ "expected item count >= 1, got 0" }, messages(s.array(s.string()):min(1), {}))
    end)

    it("refuses constraints that do not apply", function()
      assert.has_error(function() s.boolean():min(1) end)
      assert.has_error(function() s.integer():pattern("x") end)
      assert.has_error(function() s.string():strict() end)
    end)
  end)

  describe("objects and arrays", function()
    local payload = s.object{
      order_id = s.string(),
      amount = s.integer(),
      customer = s.object{ name = s.string(), email = s.string():optional() },
      lines = s.array(s.object{ sku = s.string(), qty = s.integer():min(1) }),
      note = s.string():optional(),
    }

    it("accepts a valid nested value", function()
      assert.is_true(payload:validate({
        order_id = "o1", amount = 3, customer = { name = "Ann" },
        lines = { { sku = "a", qty = 1 }, { sku = "b", qty = 2 } }, extra = "allowed",
      }))
    end)

    it("lists every failing path with its nested location", function()
      local ok, errors = payload:validate({
        amount = "3",
        customer = { email = 7 },
        lines = { { sku = "a", qty = 0 }, { qty = "x" }, "nope" },
      })
      assert.is_false(ok)
      local by_path = {}
      for _, e in ipairs(errors) do
        by_path[e.path] = e.message
      end
      assert.same({
        amount = "amount: expected integer, got string",
        ["customer.email"] = "customer.email: expected string, got integer",
        ["customer.name"] = "customer.name: missing (expected string)",
        ["lines[1].qty"] = "lines[1].qty: expected a value >= 1, got 0",
        ["lines[2].qty"] = "lines[2].qty: expected integer, got string",
        ["lines[2].sku"] = "lines[2].sku: missing (expected string)",
        ["lines[3]"] = "lines[3]: expected object, got string",
        order_id = "order_id: missing (expected string)",
      }, by_path)
      assert.equal(8, #errors)
    end)

    it("reports a wrong root type with an empty path", function()
      local ok, errors = payload:validate("x")
      assert.is_false(ok)
      assert.same({ { path = "", message = "expected object, got string" } }, errors)
      assert.same({ "expected object, got array" }, messages(payload, { 1, 2 }))
      assert.same({ "expected array, got object" }, messages(s.array(s.any()), { a = 1 }))
    end)

    it("strict objects reject unknown fields", function()
      local strict = s.object{ a = s.integer() }:strict()
      assert.same({ "b: unknown field", "c: unknown field" }, messages(strict, { a = 1, b = 2, c = 3 }))
    end)

    it("validates values decoded from JSON", function()
      local ok, errors = payload:validate(cjson.decode('{"order_id":"o","amount":1.5,"customer":{"name":null},"lines":[]}'))
      assert.is_false(ok)
      assert.same({ "amount: expected integer, got number", "customer.name: missing (expected string)" },
        { errors[1].message, errors[2].message })
    end)

    it("format_errors joins the messages", function()
      local _, errors = s.object{ a = s.string(), b = s.string() }:validate({})
      assert.equal("a: missing (expected string); b: missing (expected string)", s.format_errors(errors))
    end)
  end)

  describe("construction errors", function()
    it("rejects non-schemas where a schema is expected", function()
      assert.has_error(function() s.array("string") end)
      assert.has_error(function() s.object{ a = "string" } end)
      assert.has_error(function() s.enum{} end)
    end)

    it("recognises its own values only", function()
      assert.is_true(s.is_schema(s.string()))
      assert.is_true(s.is_schema(s.string():optional()))
      assert.is_false(s.is_schema({ kind = "string", validate = function() return true end }))
    end)
  end)
end)
