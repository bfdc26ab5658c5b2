-- Scalar decoding for the OTLP JSON mapping: ids, nano timestamps and typed
-- attribute values (AnyValue / KeyValue lists).

local M = {}

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local B64_INDEX = {}
for i = 1, #B64 do B64_INDEX[B64:sub(i, i)] = i - 1 end

-- base64 -> lowercase hex, or nil when the text is not base64.
local function base64_to_hex(text)
  text = text:gsub("=+$", "")
  local bits, nbits, out = 0, 0, {}
  for i = 1, #text do
    local v = B64_INDEX[text:sub(i, i)]
    if not v then return nil end
    bits = bits * 64 + v
    nbits = nbits + 6
    if nbits >= 8 then
      nbits = nbits - 8
      local byte = math.floor(bits / 2 ^ nbits)
      bits = bits - byte * 2 ^ nbits
      out[#out + 1] = string.format("%02x", byte)
    end
  end
  return table.concat(out)
end

-- An id of `bytes` bytes as lowercase hex, or nil when malformed or all zero.
-- Accepts hex (the OTLP JSON mapping) and base64 (protobuf JSON exporters).
function M.id(raw, bytes)
  if type(raw) ~= "string" then return nil end
  local hex
  if #raw == bytes * 2 and raw:find("^[0-9a-f]+$") then
    -- the common case, already lowercase hex: no new string
    if not raw:find("[1-9a-f]") then return nil end
    return raw
  elseif #raw == bytes * 2 and raw:find("^%x+$") then
    hex = raw:lower()
  elseif #raw == math.ceil(bytes / 3) * 4 then
    hex = base64_to_hex(raw)
    if not hex or #hex ~= bytes * 2 then return nil end
  else
    return nil
  end
  if hex:match("^0+$") then return nil end
  return hex
end

-- A nano timestamp (decimal string or number) -> exact decimal string and
-- integer ms (floor), or nil and a reason. Strings keep full precision; a
-- number above 2^53 has already lost some in the JSON decoder.
function M.nanos(raw)
  local text
  if type(raw) == "string" then
    text = raw
  elseif type(raw) == "number" then
    if raw < 0 or raw ~= math.floor(raw) then return nil, "expected a non-negative integer" end
    text = string.format("%.0f", raw)
  else
    return nil, "missing"
  end
  if not text:find("^%d+$") then return nil, "expected a non-negative integer" end
  if text:byte(1) == 48 then text = text:gsub("^0+(%d)", "%1") end
  local ms = #text > 6 and tonumber(text:sub(1, -7)) or 0
  return text, ms
end

-- a < b for two canonical decimal strings from M.nanos.
function M.nanos_less(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end

local any_value

local function kvlist(list)
  local out = {}
  if type(list) ~= "table" then return out end
  for _, kv in ipairs(list) do
    if type(kv) == "table" and type(kv.key) == "string" then
      local v = any_value(kv.value)
      if v ~= nil then out[kv.key] = v end
    end
  end
  return out
end

-- AnyValue -> Lua value (nil for an empty or unknown value).
-- intValue may be a string (int64 in JSON) or a number; both become numbers.
-- bytesValue stays base64 text.
any_value = function(v)
  if type(v) ~= "table" then return nil end
  if type(v.stringValue) == "string" then return v.stringValue end
  if v.boolValue ~= nil then return v.boolValue == true or v.boolValue == "true" end
  if v.intValue ~= nil then return tonumber(v.intValue) end
  if v.doubleValue ~= nil then return tonumber(v.doubleValue) end
  if v.arrayValue ~= nil then
    local out = {}
    local items = type(v.arrayValue) == "table" and v.arrayValue.values
    for _, item in ipairs(type(items) == "table" and items or {}) do
      local x = any_value(item)
      if x ~= nil then out[#out + 1] = x end
    end
    return out
  end
  if type(v.kvlistValue) == "table" then return kvlist(v.kvlistValue.values) end
  if v.bytesValue ~= nil then return tostring(v.bytesValue) end
  return nil
end

-- KeyValue list -> flat map key -> value.
M.attributes = kvlist

return M
