-- SDK identity of a span_received event, from its resource attributes:
-- langwatch.sdk.* if present, else telemetry.sdk.*, else "other".
-- (Same precedence as trace_processing's utils/span_facts.lua sdk().)

local M = {}

-- event -> name, version, language (each a non-empty string)
function M.of(event)
  local resource = ((event.data or {}).resource or {}).attributes or {}
  local prefix
  if resource["langwatch.sdk.name"] ~= nil then
    prefix = "langwatch.sdk."
  elseif resource["telemetry.sdk.name"] ~= nil then
    prefix = "telemetry.sdk."
  end
  local function field(name)
    local v = prefix and resource[prefix .. name]
    if v == nil or v == "" or type(v) == "table" or type(v) == "userdata" then return "other" end
    return tostring(v)
  end
  return field("name"), field("version"), field("language")
end

return M
