-- host.lua: the services the C core provides to the Lua library
-- (module "esengine.core": list_dir, is_dir, log, now, hash, and JSON:
-- json_encode, json_decode, which the fallback leaves to cjson), or, when the
-- library runs outside the engine (plain busted), the pure-Lua stand-in
-- from esengine.core_fallback with the same functions.
local ok, core = pcall(require, "esengine.core")
if not ok then
  core = require("esengine.core_fallback")
end
return core
