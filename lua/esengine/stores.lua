-- stores.lua: es.stores, how folds and maps name where their output goes.
-- es.stores.table(name, opts?) returns a marker the engine binds at run time
-- to the backend in use (SQLite table, ClickHouse table, memory). A custom
-- store is any plain Lua table with get(aggregate_id, ctx) and
-- store(state, ctx) (folds) or append(record, ctx) (maps); the runtime calls
-- it itself.
local stores = {}

local Marker = { __metatable = "es.stores.table" }
Marker.__index = Marker

-- Every marker built by stores.table, so the runtime can tell them apart
-- from custom stores.
local markers = setmetatable({}, { __mode = "k" })

local COLUMN_TYPES = {
  String = true, UInt8 = true, UInt16 = true, UInt32 = true, UInt64 = true,
  Int8 = true, Int16 = true, Int32 = true, Int64 = true,
  Float32 = true, Float64 = true,
}

-- stores.table(name, opts?) -> marker { kind = "table", table = name,
-- columns = {col = "UInt32", ...} or nil, options = opts }.
-- name must be an SQL identifier; opts.columns maps record/state fields to
-- column types for backends with typed tables (ClickHouse).
function stores.table(name, opts)
  if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
    error("es.stores.table: name must be an identifier ([A-Za-z_][A-Za-z0-9_]*), got "
      .. (type(name) == "string" and string.format("%q", name) or type(name)), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("es.stores.table: opts must be a table", 2)
  end
  opts = opts or {}
  local columns
  if opts.columns ~= nil then
    if type(opts.columns) ~= "table" then
      error("es.stores.table: opts.columns must be a table of column = type", 2)
    end
    columns = {}
    for col, ctype in pairs(opts.columns) do
      if type(col) ~= "string" or not col:match("^[%a_][%w_]*$") then
        error("es.stores.table: column names must be identifiers, got " .. tostring(col), 2)
      end
      if not COLUMN_TYPES[ctype] then
        error("es.stores.table: column '" .. col .. "' has unknown type " .. tostring(ctype), 2)
      end
      columns[col] = ctype
    end
  end
  local marker = setmetatable({ kind = "table", table = name, columns = columns, options = opts }, Marker)
  markers[marker] = true
  return marker
end

-- stores.is_table(v) -> true when v was returned by stores.table.
function stores.is_table(v)
  return markers[v] == true
end

-- stores.kind(v, role) -> "table", "custom" or nil, reason. role is "fold"
-- (needs get and store) or "map" (needs append).
function stores.kind(v, role)
  if markers[v] then
    return "table"
  end
  if type(v) ~= "table" then
    return nil, "store must be es.stores.table(...) or a table with "
      .. (role == "fold" and "get/store" or "append") .. " functions, got " .. type(v)
  end
  local needed = role == "fold" and { "get", "store" } or { "append" }
  for _, fn in ipairs(needed) do
    if type(v[fn]) ~= "function" then
      return nil, "custom store is missing " .. fn .. " (a function)"
    end
  end
  return "custom"
end

return stores
