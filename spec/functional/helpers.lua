-- helpers.lua: driving the real esengine binary from functional specs:
-- temp dirs, running commands with their exit codes, background processes,
-- and waiting on state with a deadline (never a blind sleep).
local cjson = require("cjson")

local h = {}

h.bin = os.getenv("ESENGINE_BIN") or "./build/esengine"
h.fixtures = "spec/functional/fixtures/pipelines"

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
h.q = shell_quote

-- Runs a shell command; returns exit code, stdout, stderr.
function h.sh(cmd)
  local err_file = os.tmpname()
  local p = io.popen("(" .. cmd .. ") 2>" .. err_file .. "; echo \"__exit=$?\"")
  local out = p:read("*a")
  p:close()
  local f = io.open(err_file)
  local err = f and f:read("*a") or ""
  if f then f:close() end
  os.remove(err_file)
  local code = tonumber(out:match("__exit=(%d+)%s*$"))
  out = out:gsub("__exit=%d+%s*$", "")
  return code, out, err
end

-- Runs `esengine ARGS` (a string of already-quoted arguments).
function h.esengine(args, stdin_file)
  return h.sh(h.bin .. " " .. args .. (stdin_file and (" < " .. stdin_file) or ""))
end

function h.tmpdir()
  local _, out = h.sh("mktemp -d /tmp/esengine-spec.XXXXXX")
  return (out:gsub("%s+$", ""))
end

function h.rmdir(dir)
  if dir and dir:match("^/tmp/esengine%-spec") then h.sh("rm -rf " .. shell_quote(dir)) end
end

-- Starts a shell command line in the background; returns its pid (of the
-- subshell running it).
function h.spawn(cmd, log_file)
  local _, out = h.sh("(" .. cmd .. ") >" .. (log_file or "/dev/null") .. " 2>&1 & echo $!")
  return tonumber(out:match("(%d+)"))
end

-- Starts one program in the background (exec'd, so the pid is the
-- program's own and kill -9 reaches it); returns its pid.
function h.spawn_exec(cmd, log_file)
  local _, out = h.sh("(exec " .. cmd .. ") >" .. (log_file or "/dev/null") .. " 2>&1 & echo $!")
  return tonumber(out:match("(%d+)"))
end

-- A zombie (exited, not yet reaped by whoever adopted it) counts as dead.
function h.alive(pid)
  local code, out = h.sh("ps -o stat= -p " .. pid)
  return code == 0 and not out:match("^%s*Z")
end

function h.kill(pid, signal)
  h.sh("kill -" .. (signal or "TERM") .. " " .. pid)
end

function h.sleep(seconds)
  h.sh("sleep " .. seconds)
end

-- Polls fn() until it returns a truthy value or `seconds` pass; returns the
-- value, or raises naming what was awaited.
function h.wait_until(what, seconds, fn)
  local deadline = os.time() + seconds
  while true do
    local v = fn()
    if v then return v end
    if os.time() > deadline then error("timed out after " .. seconds .. " s waiting for " .. what, 2) end
    h.sleep(0.05)
  end
end

-- Waits for a pid to exit; returns true when it did within `seconds`.
function h.wait_exit(pid, seconds)
  local ok = pcall(h.wait_until, "pid " .. pid .. " to exit", seconds, function()
    return not h.alive(pid)
  end)
  return ok
end

function h.json(s)
  return cjson.decode(s)
end

function h.lines(s)
  local out = {}
  for line in s:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

return h
