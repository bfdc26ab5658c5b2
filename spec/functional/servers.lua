-- servers.lua: private redis-server and clickhouse-server processes for
-- functional specs, each on free loopback ports in a temp dir of its own
-- (never the system's or CI's shared ones: specs stop, kill and restart
-- them). Servers are stopped by the PID started here, never by name.
-- Also the small file and process helpers the server specs share.
--
--   local s = require("spec.functional.servers")
--   local redis = s.redis(root)           -- {dir = root/redis, port}
--   s.redis_start(redis)                  -- waits for PONG
--   local ch = s.clickhouse(root)         -- {dir = root/clickhouse, http_port, tcp_port}
--   s.ch_start(ch)                        -- waits for /ping
--   s.ch_rows(ch, "SELECT ...")           -- JSONEachRow rows, decoded
--   s.redis_stop(redis); s.ch_stop(ch)    -- same port on the next start
local h = require("spec.functional.helpers")
local cjson = require("cjson")
local assert = require("luassert")

local s = {}

---------------------------------------------------------------- files, time

function s.read_file(path)
  local f = io.open(path)
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text
end

function s.write_file(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- Wall-clock seconds with sub-second precision.
function s.now()
  local _, out = h.sh("date +%s.%N")
  return tonumber(out) or os.time()
end

-- VmRSS of pid in MiB (nil when it is gone).
function s.rss_mb(pid)
  local text = s.read_file("/proc/" .. pid .. "/status")
  local kb = text and text:match("VmRSS:%s*(%d+)")
  return kb and tonumber(kb) / 1024
end

---------------------------------------------------------------- processes, ports

-- True while pid runs (a zombie, killed but not yet reaped, does not).
function s.running(pid)
  local code, out = h.sh("ps -o stat= -p " .. pid)
  return code == 0 and out:match("%S") ~= nil and not out:match("^%s*Z")
end

-- Waits until pid no longer runs; true when it stopped within `seconds`.
function s.wait_gone(pid, seconds)
  return (pcall(h.wait_until, "pid " .. pid .. " to exit", seconds, function()
    return not s.running(pid)
  end))
end

-- A loopback port nobody listens on right now.
function s.free_port()
  local _, out = h.sh([[python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])']])
  return tonumber(out) or (20000 + math.random(20000))
end

-- Stops srv.pid (started here): `signal` (default TERM), then KILL if it
-- is still up after 30 s; raises when it does not go.
local function stop_pid(srv, signal, name)
  if srv and srv.pid and s.running(srv.pid) then
    h.kill(srv.pid, signal or "TERM")
    if not s.wait_gone(srv.pid, 30) then h.kill(srv.pid, "KILL") end
    assert.is_true(s.wait_gone(srv.pid, 10), name .. " did not stop")
  end
end

---------------------------------------------------------------- redis-server

-- A redis-server of a spec: its own port and dir (root/redis, created).
-- opts.aof turns on appendonly with appendfsync always.
function s.redis(root, opts)
  local r = { dir = root .. "/redis", port = s.free_port(), aof = opts and opts.aof }
  h.sh("mkdir -p " .. h.q(r.dir))
  return r
end

function s.redis_url(r)
  return "redis://127.0.0.1:" .. r.port
end

-- redis-cli against a port; returns exit code, stdout, stderr.
function s.redis_cli(port, args)
  return h.sh("redis-cli -h 127.0.0.1 -p " .. port .. " " .. args)
end

function s.redis_ping(r)
  local _, out = s.redis_cli(r.port, "ping")
  return out:find("PONG", 1, true) ~= nil
end

-- Starts (or restarts, same port and dir) the server and waits until it
-- answers. Each start logs to a new file, r.dir/redis-N.log.
function s.redis_start(r)
  r.starts = (r.starts or 0) + 1
  local cmd = "redis-server --port " .. r.port .. " --bind 127.0.0.1 --dir " .. h.q(r.dir) ..
    " --save '' --daemonize no --protected-mode no" ..
    (r.aof and " --appendonly yes --appendfsync always" or " --appendonly no")
  r.pid = h.spawn_exec(cmd, r.dir .. "/redis-" .. r.starts .. ".log")
  h.wait_until("redis-server on port " .. r.port .. " to answer", 30, function()
    assert(s.running(r.pid), "redis-server exited: " .. (s.read_file(r.dir .. "/redis-" .. r.starts .. ".log") or ""))
    return s.redis_ping(r)
  end)
end

-- Stops it: SIGTERM, or with signal "KILL" at once (a crash).
function s.redis_stop(r, signal)
  stop_pid(r, signal, "redis-server")
end

---------------------------------------------------------------- clickhouse-server

-- A private clickhouse-server (config reduced from the packaged one, as in
-- spec/c/clickhouse_server.h; works with Debian's 18.16) in root/clickhouse,
-- logging its queries to system.query_log (SYSTEM FLUSH LOGS to read them).
function s.clickhouse(root)
  local ch = { dir = root .. "/clickhouse", http_port = s.free_port(), tcp_port = s.free_port() }
  for _, sub in ipairs({ "data", "tmp", "user_files", "format_schemas" }) do
    h.sh("mkdir -p " .. h.q(ch.dir .. "/" .. sub))
  end
  s.write_file(ch.dir .. "/config.xml", string.format([[<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>%s/server.log</log><errorlog>%s/server.err.log</errorlog><size>10M</size><count>1</count></logger>
  <http_port>%d</http_port>
  <tcp_port>%d</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>%s/data/</path>
  <tmp_path>%s/tmp/</tmp_path>
  <user_files_path>%s/user_files/</user_files_path>
  <format_schema_path>%s/format_schemas/</format_schema_path>
  <users_config>%s/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <mlock_executable>false</mlock_executable>
  <query_log><database>system</database><table>query_log</table></query_log>
</yandex>
]], ch.dir, ch.dir, ch.http_port, ch.tcp_port, ch.dir, ch.dir, ch.dir, ch.dir, ch.dir))
  s.write_file(ch.dir .. "/users.xml", [[<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage><log_queries>1</log_queries></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
]])
  return ch
end

-- The --clickhouse URL of database `db` (with an optional "?query").
function s.ch_url(ch, db, query)
  return "http://127.0.0.1:" .. ch.http_port .. "/" .. db .. (query or "")
end

function s.ch_ping(ch)
  local _, out = h.sh("curl -s --max-time 2 http://127.0.0.1:" .. ch.http_port .. "/ping")
  return out:find("Ok.", 1, true) ~= nil
end

-- Starts (or restarts, same ports and data) the server and waits up to
-- 90 s until it answers. Each start logs to ch.dir/stdout-N.log.
function s.ch_start(ch)
  ch.starts = (ch.starts or 0) + 1
  local log = ch.dir .. "/stdout-" .. ch.starts .. ".log"
  local _, out = h.sh("cd " .. h.q(ch.dir) .. " && (exec clickhouse-server --config-file=" ..
    h.q(ch.dir .. "/config.xml") .. ") >" .. h.q(log) .. " 2>&1 & echo $!")
  ch.pid = tonumber(out:match("(%d+)"))
  h.wait_until("clickhouse-server on port " .. ch.http_port .. " to answer", 90, function()
    assert(s.running(ch.pid), "clickhouse-server exited: " .. (s.read_file(log) or ""))
    return s.ch_ping(ch)
  end)
end

-- Stops the server: SIGTERM (a graceful shutdown can take seconds) or, with
-- signal "KILL", at once (a crash); then waits for its port to close.
function s.ch_stop(ch, signal)
  if ch and ch.pid and s.running(ch.pid) then
    stop_pid(ch, signal, "clickhouse-server")
    h.wait_until("the ClickHouse port to close", 30, function() return not s.ch_ping(ch) end)
  end
end

-- Runs one query over HTTP (POSTed, so any bytes are fine); returns the
-- body, or raises with the server's message.
function s.ch_query(ch, sql)
  local file = os.tmpname()
  s.write_file(file, sql)
  local code, out, err = h.sh("curl -sS --max-time 120 --data-binary @" .. h.q(file) ..
    " http://127.0.0.1:" .. ch.http_port .. "/")
  os.remove(file)
  assert(code == 0 and not out:find("^Code: %d+"), "query failed: " .. sql .. "\n" .. out .. err)
  return out
end

-- JSONEachRow rows of a query, decoded.
function s.ch_rows(ch, sql)
  local rows = {}
  for _, line in ipairs(h.lines(s.ch_query(ch, sql .. " FORMAT JSONEachRow"))) do
    rows[#rows + 1] = cjson.decode(line)
  end
  return rows
end

-- SQL string literal (any bytes).
function s.lit(str)
  local escapes = { ["\\"] = "\\\\", ["'"] = "\\'", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t", ["\0"] = "\\0" }
  return "'" .. str:gsub("[\\'\n\r\t%z]", escapes) .. "'"
end

return s
