-- schema.lua: es.schema, the validator for command payloads (and anything
-- else a pipeline wants to check). A schema is an immutable value built from
--   object{field = s, ...}  string()  number()  integer()  boolean()
--   array(s)  enum{v1, v2, ...}  any()
-- refined with :optional(), :min(n), :max(n) (length for strings and arrays,
-- value for numbers), :pattern(lua_pattern) (strings) and :strict()
-- (objects: unknown fields are errors).
--
-- s:validate(value) -> true | false, errors: errors lists EVERY failing path
-- as { path = "items[2].amount", message = "items[2].amount: expected
-- integer, got string" } (array indexes are 1-based, like Lua; the root path
-- is ""). JSON null (cjson.null) counts as absent.
local cjson = require("cjson")

local schema = {}

local Schema = {}
Schema.__index = Schema
Schema.__metatable = "es.schema"

-- Every schema value ever built, so is_schema cannot be fooled by a table
-- that merely looks like one.
local known = setmetatable({}, { __mode = "k" })

-- schema.is_schema(v) -> true when v was built by this module.
local function is_schema(v)
  return known[v] == true
end
schema.is_schema = is_schema

local function new(kind, fields)
  fields.kind = kind
  known[fields] = true
  return setmetatable(fields, Schema)
end

local function copy_with(s, key, value)
  local c = {}
  for k, v in pairs(s) do
    c[k] = v
  end
  c[key] = value
  known[c] = true
  return setmetatable(c, Schema)
end

-- JSON-flavoured name of a Lua value's type, for messages.
local function json_type(v)
  local t = type(v)
  if v == nil or v == cjson.null then
    return "null"
  elseif t == "table" then
    return (rawget(v, 1) ~= nil) and "array" or "object"
  elseif t == "number" then
    return (v == math.floor(v) and v > -math.huge and v < math.huge) and "integer" or "number"
  end
  return t
end

local function is_array(v)
  if type(v) ~= "table" then
    return false
  end
  local n = 0
  for k in pairs(v) do
    if type(k) ~= "number" or k < 1 or k ~= math.floor(k) then
      return false
    end
    n = n + 1
  end
  return n == #v
end

local function is_object(v)
  if type(v) ~= "table" then
    return false
  end
  for k in pairs(v) do
    if type(k) ~= "string" then
      return false
    end
  end
  return true
end

local function describe(s)
  if s.kind == "enum" then
    local parts = {}
    for i, v in ipairs(s.values) do
      parts[i] = type(v) == "string" and string.format("%q", v) or tostring(v)
    end
    return "one of " .. table.concat(parts, ", ")
  end
  return s.kind
end

local function show(v)
  if type(v) == "string" then
    return string.format("%q", v)
  end
  return json_type(v)
end

-- The path of `key` (a field name or an index; nil: none) under `path`.
local function join(path, key)
  if key == nil then
    return path
  end
  if type(key) == "number" then
    return path .. "[" .. key .. "]"
  end
  if path == "" then
    return key
  end
  return path .. "." .. key
end

-- Checkers get the path of a value as its parent's path and its key, joined
-- only for a message: a valid payload costs no string per nested field.
local check -- forward: check(s, value, path, key, errors)

local function fail(errors, path, key, message)
  path = join(path, key)
  local full = path == "" and message or (path .. ": " .. message)
  errors[#errors + 1] = { path = path, message = full }
end

-- Bounds shared by strings ("length"), arrays ("item count") and numbers
-- ("a value").
local function check_bounds(s, measured, label, path, key, errors)
  if s.min_value and measured < s.min_value then
    fail(errors, path, key,
      string.format("expected %s >= %s, got %s", label, s.min_value, measured))
  end
  if s.max_value and measured > s.max_value then
    fail(errors, path, key,
      string.format("expected %s <= %s, got %s", label, s.max_value, measured))
  end
end

local checkers = {}

function checkers.any()
end

function checkers.string(s, v, path, key, errors)
  if type(v) ~= "string" then
    return fail(errors, path, key, "expected string, got " .. json_type(v))
  end
  check_bounds(s, #v, "length", path, key, errors)
  if s.pattern_value and not v:find(s.pattern_value) then
    fail(errors, path, key, string.format("expected a string matching %q", s.pattern_value))
  end
end

function checkers.number(s, v, path, key, errors)
  if type(v) ~= "number" or v ~= v then
    return fail(errors, path, key, "expected number, got " .. json_type(v))
  end
  check_bounds(s, v, "a value", path, key, errors)
end

function checkers.integer(s, v, path, key, errors)
  if type(v) ~= "number" or v ~= math.floor(v) or v == math.huge or v == -math.huge then
    return fail(errors, path, key, "expected integer, got " .. json_type(v))
  end
  check_bounds(s, v, "a value", path, key, errors)
end

function checkers.boolean(_, v, path, key, errors)
  if type(v) ~= "boolean" then
    fail(errors, path, key, "expected boolean, got " .. json_type(v))
  end
end

function checkers.enum(s, v, path, key, errors)
  for _, allowed in ipairs(s.values) do
    if v == allowed then
      return
    end
  end
  fail(errors, path, key, "expected " .. describe(s) .. ", got " .. show(v))
end

function checkers.array(s, v, path, key, errors)
  if not is_array(v) then
    return fail(errors, path, key, "expected array, got " .. json_type(v))
  end
  check_bounds(s, #v, "item count", path, key, errors)
  local here = join(path, key)
  for i = 1, #v do
    check(s.items, v[i], here, i, errors)
  end
end

function checkers.object(s, v, path, key, errors)
  if not is_object(v) then
    return fail(errors, path, key, "expected object, got " .. json_type(v))
  end
  local here = join(path, key)
  for _, name in ipairs(s.field_names) do
    check(s.fields[name], v[name], here, name, errors)
  end
  if s.strict_fields then
    local unknown = {}
    for k in pairs(v) do
      if not s.fields[k] then
        unknown[#unknown + 1] = k
      end
    end
    table.sort(unknown)
    for _, k in ipairs(unknown) do
      fail(errors, here, k, "unknown field")
    end
  end
end

function check(s, v, path, key, errors)
  if v == nil or v == cjson.null then
    if not s.is_optional then
      fail(errors, path, key, "missing (expected " .. describe(s) .. ")")
    end
    return
  end
  checkers[s.kind](s, v, path, key, errors)
end

-- s:validate(value) -> true, or false and the list of {path, message}.
function Schema:validate(value)
  local errors = {}
  check(self, value, "", nil, errors)
  if #errors == 0 then
    return true
  end
  return false, errors
end

-- s:optional() -> a copy of s that also accepts nil / JSON null.
function Schema:optional()
  return copy_with(self, "is_optional", true)
end

local BOUNDED = { string = true, number = true, integer = true, array = true }

-- s:min(n) / s:max(n) -> a copy with a lower / upper bound (string length,
-- array items, or numeric value).
function Schema:min(n)
  assert(BOUNDED[self.kind], "min() applies to string, number, integer and array schemas")
  assert(type(n) == "number", "min() expects a number")
  return copy_with(self, "min_value", n)
end

function Schema:max(n)
  assert(BOUNDED[self.kind], "max() applies to string, number, integer and array schemas")
  assert(type(n) == "number", "max() expects a number")
  return copy_with(self, "max_value", n)
end

-- s:pattern(p) -> a copy of a string schema that requires string.find(v, p).
function Schema:pattern(p)
  assert(self.kind == "string", "pattern() applies to string schemas")
  assert(type(p) == "string", "pattern() expects a Lua pattern string")
  return copy_with(self, "pattern_value", p)
end

-- s:strict() -> a copy of an object schema that rejects unknown fields.
function Schema:strict()
  assert(self.kind == "object", "strict() applies to object schemas")
  return copy_with(self, "strict_fields", true)
end

-- Constructors ---------------------------------------------------------------

function schema.string()
  return new("string", {})
end

function schema.number()
  return new("number", {})
end

function schema.integer()
  return new("integer", {})
end

function schema.boolean()
  return new("boolean", {})
end

function schema.any()
  return new("any", {})
end

-- schema.array(item_schema)
function schema.array(items)
  if not is_schema(items) then
    error("es.schema.array expects an item schema, got " .. type(items), 2)
  end
  return new("array", { items = items })
end

-- schema.enum{ "a", "b", ... }: one of the listed (string, number or boolean)
-- values.
function schema.enum(values)
  if type(values) ~= "table" or #values == 0 then
    error("es.schema.enum expects a non-empty list of values", 2)
  end
  local copy = {}
  for i, v in ipairs(values) do
    copy[i] = v
  end
  return new("enum", { values = copy })
end

-- schema.object{ name = schema, ... }: a table with those fields (extra
-- fields allowed unless :strict()).
function schema.object(fields)
  if type(fields) ~= "table" then
    error("es.schema.object expects a table of field schemas", 2)
  end
  local names, copy = {}, {}
  for name, s in pairs(fields) do
    if type(name) ~= "string" then
      error("es.schema.object: field names must be strings", 2)
    end
    if not is_schema(s) then
      error("es.schema.object: field '" .. name .. "' is not a schema", 2)
    end
    names[#names + 1] = name
    copy[name] = s
  end
  table.sort(names)
  return new("object", { fields = copy, field_names = names })
end

-- schema.format_errors(errors) -> one line: the messages joined by "; ".
function schema.format_errors(errors)
  local parts = {}
  for i, e in ipairs(errors) do
    parts[i] = e.message
  end
  return table.concat(parts, "; ")
end

return schema
