-- init.lua: the module pipeline authors require as `es`:
--   es.define_pipeline()          the pipeline builder (esengine.builder)
--   es.event(type, data, opts?)   an event emitted by a command handler
--   es.schema                     payload schemas (esengine.schema)
--   es.stores                     store markers (esengine.stores)
--   es.log                        logging to the engine's log (esengine.log)
local builder = require("esengine.builder")
local event = require("esengine.event")

local es = {
  schema = require("esengine.schema"),
  stores = require("esengine.stores"),
  log = require("esengine.log"),
}

-- es.define_pipeline() -> a new pipeline builder.
es.define_pipeline = builder.new

-- es.event(type, data?, opts?) -> an event table for a handler's result.
es.event = event.new

return es
