-- core_fallback.lua: a pure-Lua stand-in for the C core's "esengine.core"
-- module, used only when the library runs without the engine (busted specs).
-- Same functions and shapes as the C side; slower and shell-based.
local bit = require("bit")

local core = {}

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- core.list_dir(path) -> array of entry names (sorted, no "." / ".."),
-- or nil, err when the directory cannot be read.
function core.list_dir(path)
  if not core.is_dir(path) then
    return nil, path .. ": not a directory"
  end
  local p = io.popen("ls -1A " .. shell_quote(path) .. " 2>/dev/null")
  if not p then
    return nil, path .. ": cannot list"
  end
  local names = {}
  for line in p:lines() do
    names[#names + 1] = line
  end
  p:close()
  table.sort(names)
  return names
end

-- core.is_dir(path) -> true when path is a directory.
function core.is_dir(path)
  local p = io.popen("test -d " .. shell_quote(path) .. " && echo y")
  if not p then
    return false
  end
  local out = p:read("*a")
  p:close()
  return out:sub(1, 1) == "y"
end

local LEVELS = { debug = 0, info = 1, warn = 2, error = 3 }
local min_level = LEVELS[(os.getenv("ESENGINE_LOG_LEVEL") or "info"):lower()] or 1

-- core.log(level, message): one line on stderr, like the C logger.
function core.log(level, message)
  if (LEVELS[level] or 1) >= min_level then
    io.stderr:write(string.format("[%s] %s\n", level, tostring(message)))
  end
end

-- core.arm(timeout_ms): a handler call starts. The C core's watchdog stops
-- it past its limit; without the engine there is no watchdog.
function core.arm(_) end

-- core.now() -> wall clock in milliseconds.
function core.now()
  return os.time() * 1000
end

-- h * 16777619 modulo 2^32, exact in doubles: 16777619 = 2^24 + 403.
local function fnv_mul(h)
  return bit.tobit(bit.lshift(h, 24) + h * 403)
end

-- core.hash(s) -> 16 hex digits (two 32-bit FNV-1a lanes with different
-- offsets; stable, not cryptographic).
function core.hash(s)
  local h1, h2 = bit.tobit(0x811c9dc5), bit.tobit(0x050c5d1f)
  for i = 1, #s do
    local b = s:byte(i)
    h1 = fnv_mul(bit.bxor(h1, b))
    h2 = fnv_mul(bit.bxor(h2, b, i % 256))
  end
  return bit.tohex(h1) .. bit.tohex(h2)
end

return core
