-- event.lua: es.event, how command handlers describe the events they emit.
-- The engine fills in id, tenant, aggregate, seq and created_at when it
-- appends them.
local event = {}

-- The version given to events whose handler does not name one.
event.DEFAULT_VERSION = "v1"

local OPTS = { version = "string", occurred_at = "number", idempotency_key = "string", metadata = "table" }

-- event.new(type, data?, opts?) -> { type, data, version, occurred_at?,
-- idempotency_key?, metadata }. opts: version (string), occurred_at
-- (integer ms; default: now when appended), idempotency_key (non-empty string),
-- metadata (table). Raises on a wrong argument, pointing at the caller.
function event.new(type_name, data, opts)
  if type(type_name) ~= "string" or type_name == "" then
    error("es.event: type must be a non-empty string, got " .. type(type_name), 2)
  end
  if data ~= nil and type(data) ~= "table" then
    error("es.event(" .. type_name .. "): data must be a table, got " .. type(data), 2)
  end
  if opts == nil then
    -- the usual call, es.event(type, data): nothing to check
    return { type = type_name, data = data or {}, version = event.DEFAULT_VERSION, metadata = {} }
  end
  if type(opts) ~= "table" then
    error("es.event(" .. type_name .. "): opts must be a table, got " .. type(opts), 2)
  end
  for k, v in pairs(opts) do
    local want = OPTS[k]
    if not want then
      error("es.event(" .. type_name .. "): unknown option '" .. tostring(k) .. "'", 2)
    end
    if type(v) ~= want then
      error("es.event(" .. type_name .. "): option " .. k .. " must be a " .. want .. ", got " .. type(v), 2)
    end
  end
  if opts.occurred_at and opts.occurred_at ~= math.floor(opts.occurred_at) then
    error("es.event(" .. type_name .. "): occurred_at must be an integer (ms)", 2)
  end
  if opts.idempotency_key == "" then
    error("es.event(" .. type_name .. "): idempotency_key must not be empty", 2)
  end
  return {
    type = type_name,
    data = data or {},
    version = opts.version or event.DEFAULT_VERSION,
    occurred_at = opts.occurred_at,
    idempotency_key = opts.idempotency_key,
    metadata = opts.metadata or {},
  }
end

return event
