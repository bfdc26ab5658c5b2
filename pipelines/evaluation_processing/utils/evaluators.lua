-- Built-in evaluators: deterministic checks over trace summary fields.
--
-- run(type, settings, trace) -> result
--   result = { status = processed|skipped|error, passed?, score?, label?,
--              details?, error? }
-- Types (settings):
--   exact_match { field = "output"|"input" (default output), value }
--   regex       { field, pattern }  a Lua pattern (the sandbox has no regex)
--   length      { field, min?, max? }  passes when min <= #text <= max
--   latency     { max_ms }  passes when trace.total_duration_ms <= max_ms
-- A missing field gives "skipped"; a bad setting gives "error".

local M = {}

local function verdict(passed, score, details)
  return { status = "processed", passed = passed, score = score,
    label = passed and "pass" or "fail", details = details }
end

local function text_field(settings, trace)
  local field = settings.field or "output"
  local text = trace[field]
  if type(text) ~= "string" then
    return nil, { status = "skipped", details = "trace has no " .. field }
  end
  return text
end

local RUNNERS = {}

function RUNNERS.exact_match(settings, trace)
  local text, skipped = text_field(settings, trace)
  if not text then return skipped end
  if type(settings.value) ~= "string" then
    return { status = "error", error = "exact_match: settings.value must be a string" }
  end
  local passed = text == settings.value
  return verdict(passed, passed and 1 or 0, passed and "exact match" or "differs from expected value")
end

function RUNNERS.regex(settings, trace)
  local text, skipped = text_field(settings, trace)
  if not text then return skipped end
  if type(settings.pattern) ~= "string" then
    return { status = "error", error = "regex: settings.pattern must be a string" }
  end
  local ok, found = pcall(string.find, text, settings.pattern)
  if not ok then return { status = "error", error = "regex: " .. tostring(found) } end
  local passed = found ~= nil
  return verdict(passed, passed and 1 or 0, passed and "pattern found" or "pattern not found")
end

function RUNNERS.length(settings, trace)
  local text, skipped = text_field(settings, trace)
  if not text then return skipped end
  local len, min, max = #text, tonumber(settings.min) or 0, tonumber(settings.max)
  local passed = len >= min and (max == nil or len <= max)
  return verdict(passed, len, "length " .. len)
end

function RUNNERS.latency(settings, trace)
  local max_ms = tonumber(settings.max_ms)
  if not max_ms then return { status = "error", error = "latency: settings.max_ms must be a number" } end
  local duration = trace.total_duration_ms
  if type(duration) ~= "number" then
    return { status = "skipped", details = "trace has no duration" }
  end
  local passed = duration <= max_ms
  return verdict(passed, duration, "duration " .. duration .. " ms, limit " .. max_ms .. " ms")
end

function M.run(evaluator_type, settings, trace)
  local runner = RUNNERS[evaluator_type]
  if not runner then
    return { status = "error", error = "unknown evaluator type '" .. tostring(evaluator_type) .. "'" }
  end
  return runner(settings or {}, trace or {})
end

return M
