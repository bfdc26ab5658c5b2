-- log.lua: es.log, the logger pipeline scripts use. Each function takes a
-- message (or a string.format pattern and its arguments) and hands one line
-- to the C core's logger.
local core = require("esengine.host")

local log = {}

local function emitter(level)
  -- log.<level>(msg, ...): logs tostring(msg), or string.format(msg, ...)
  -- when arguments follow.
  return function(msg, ...)
    if select("#", ...) > 0 then
      msg = string.format(msg, ...)
    end
    core.log(level, tostring(msg))
  end
end

log.debug = emitter("debug")
log.info = emitter("info")
log.warn = emitter("warn")
log.error = emitter("error")

return log
