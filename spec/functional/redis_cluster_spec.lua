-- redis_cluster_spec.lua: the engine against a real Redis Cluster: three
-- redis-server nodes (cluster-enabled, started here on free loopback ports
-- in a temp dir, never a system service), the cluster created with
-- `redis-cli --cluster create` and awaited until every node reports
-- cluster_state:ok and the same slot map.
--
-- Every key of the queue carries the hash tag {esengine}, so the whole
-- queue lives in one slot, on one node (the "owner"). Workers and senders
-- are pointed at the two other nodes: every command they send is first
-- answered with MOVED, and the engine must follow it.
--
--   1. COMMANDS deposits over AGGREGATES accounts (events and folds in the
--      embedded SQLite): every fold equals the expected fold, nothing is
--      parked or left queued, and the queue's keys are on the owner only.
--
-- Skipped (pending) only when redis-server has no cluster support.
-- Scale: ESENGINE_SPEC_CLUSTER_COMMANDS (default 3000) over
-- ESENGINE_SPEC_CLUSTER_AGGREGATES (default COMMANDS / 10).
local h = require("spec.functional.helpers")
local servers = require("spec.functional.servers")
local fx = require("spec.functional.fixtures")

local COMMANDS = tonumber(os.getenv("ESENGINE_SPEC_CLUSTER_COMMANDS")) or 3000
local AGGREGATES = tonumber(os.getenv("ESENGINE_SPEC_CLUSTER_AGGREGATES")) or
  math.max(1, math.floor(COMMANDS / 10))
local SENDERS = 4
local TENANT = "t1"
local NODES = 3

local read_file, running, wait_gone = servers.read_file, servers.running, servers.wait_gone

local function report(fmt, ...)
  io.stderr:write("redis_cluster_spec: " .. string.format(fmt, ...) .. "\n")
end

local function cli(port, args)
  local _, out = servers.redis_cli(port, args)
  return out
end

---------------------------------------------------------------- the cluster

-- Starts one cluster-enabled redis-server in root/node-PORT; returns
-- {port, pid, dir, log}, or nil and why when it did not come up.
local function node_start(root)
  local n = { port = servers.free_port() }
  n.dir = root .. "/node-" .. n.port
  n.log = n.dir .. "/redis.log"
  h.sh("mkdir -p " .. h.q(n.dir))
  n.pid = h.spawn_exec("redis-server --port " .. n.port .. " --bind 127.0.0.1 --dir " .. h.q(n.dir) ..
    " --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000" ..
    " --save '' --appendonly no --protected-mode no --daemonize no", n.log)
  local ok = pcall(h.wait_until, "redis-server on port " .. n.port, 30, function()
    return not running(n.pid) or cli(n.port, "ping"):find("PONG", 1, true)
  end)
  if not ok or not running(n.pid) then
    return nil, "redis-server --cluster-enabled yes did not start: " .. (read_file(n.log) or "")
  end
  if not cli(n.port, "cluster info"):find("cluster_state", 1, true) then
    return nil, "redis-server has no cluster support: " .. cli(n.port, "cluster info")
  end
  return n
end

-- Every node says cluster_state:ok and reports the same three slot ranges.
local function cluster_ready(nodes)
  local map
  for _, n in ipairs(nodes) do
    if not cli(n.port, "cluster info"):find("cluster_state:ok", 1, true) then return false end
    local slots = cli(n.port, "cluster slots")
    if map and slots ~= map then return false end
    map = slots
  end
  return select(2, map:gsub("\n127%.0%.0%.1\n", "")) == #nodes
end

-- The node serving the slot of `key`, and the others (which answer MOVED).
local function owner_of(nodes, key)
  local owner, others = nil, {}
  for _, n in ipairs(nodes) do
    if cli(n.port, "get " .. h.q(key)):find("MOVED", 1, true) then
      others[#others + 1] = n
    else
      owner = n
    end
  end
  return owner, others
end

---------------------------------------------------------------- the spec

describe("esengine on a Redis Cluster", function()
  local root, nodes, skip, owner, others, workers

  setup(function()
    root = h.tmpdir()
    nodes = {}
    for i = 1, NODES do
      local n, why = node_start(root)
      if not n then
        skip = why
        return
      end
      nodes[i] = n
    end
    local addrs = {}
    for i, n in ipairs(nodes) do addrs[i] = "127.0.0.1:" .. n.port end
    local code, out, err = h.sh("redis-cli --cluster create " .. table.concat(addrs, " ") ..
      " --cluster-replicas 0 --cluster-yes")
    assert.equal(0, code, out .. err)
    h.wait_until("cluster_state:ok on every node", 60, function() return cluster_ready(nodes) end)
    owner, others = owner_of(nodes, "{esengine}:probe")
    assert.truthy(owner, "a node serves the queue's slot")
    assert.equal(NODES - 1, #others)
  end)

  teardown(function()
    for _, n in ipairs(nodes or {}) do
      if running(n.pid) then
        h.kill(n.pid, "TERM")
        if not wait_gone(n.pid, 30) then h.kill(n.pid, "KILL") end
      end
    end
    if not os.getenv("KEEP") then h.rmdir(root) end
  end)

  before_each(function() workers = {} end)

  after_each(function()
    for _, w in ipairs(workers) do
      if running(w.pid) then h.kill(w.pid, "TERM") end
    end
    for _, w in ipairs(workers) do
      assert.is_true(wait_gone(w.pid, 30), "worker " .. w.pid .. " did not stop on SIGTERM")
    end
  end)

  local function url(n) return "redis://127.0.0.1:" .. n.port end

  local function flags_for(dir, n)
    return " --pipelines " .. h.q(h.fixtures) .. " --data " .. h.q(dir .. "/data") .. " --redis " .. url(n)
  end

  -- One worker process per node of `at`, each waited for until it runs.
  local function start_workers(dir, at)
    for _, n in ipairs(at) do
      local i = #workers + 1
      local log = dir .. "/worker-" .. i .. ".log"
      local pid = h.spawn_exec(h.bin .. " run" .. flags_for(dir, n) .. " --role worker --workers 2 " ..
        "--lease-ms 2000 --max-attempts 10 --retry-base-ms 50 --retry-max-ms 2000", log)
      workers[i] = { pid = pid, log = log }
    end
    for _, w in ipairs(workers) do
      h.wait_until("worker " .. w.pid .. " to start", 30, function()
        local text = read_file(w.log) or ""
        assert(running(w.pid), "worker " .. w.pid .. " exited: " .. text)
        return text:find("running role worker", 1, true)
      end)
    end
  end

  -- One `send - --wait` per payload file of `run`, through node `n`.
  local function start_senders(dir, run, n)
    for s, path in ipairs(run.files) do
      local send = h.bin .. " send ledger deposit - --tenant " .. TENANT .. " --id " ..
        h.q("cluster-sender-" .. s) .. " --wait=600" .. flags_for(dir, n) .. " < " .. h.q(path) .. " > /dev/null"
      h.spawn(send .. "; echo \"exit=$? tries=1\" > " .. h.q(path .. ".done"), path .. ".log")
    end
  end

  local function status_rows(flags)
    local code, out, err = h.esengine("status --json" .. flags)
    assert.equal(0, code, err)
    local rows = {}
    for _, line in ipairs(h.lines(out)) do
      local row = h.json(line)
      if row.kind then rows[#rows + 1] = row end
    end
    return rows
  end

  -- Waits until nothing is queued (maps included), asserting nothing is
  -- parked on the way.
  local function wait_queue_empty(flags, seconds)
    h.wait_until("the queue to drain", seconds, function()
      for _, row in ipairs(status_rows(flags)) do
        assert.equal(0, row.parked, "parked jobs in " .. row.component)
        if row.pending + row.delayed + row.in_flight > 0 then return false end
      end
      return true
    end)
    local code, listing, err = h.esengine("parked list" .. flags)
    assert.equal(0, code, err)
    assert.equal("", listing)
  end

  -- Every account's fold state equals its expected fold, applied in order.
  local function verify(dir, run, flags)
    local list = dir .. "/accounts.txt"
    local f = assert(io.open(list, "w"))
    for account in pairs(run.expected) do f:write(account, "\n") end
    f:close()
    local code, out, err = h.sh("while read a; do printf '%s ' \"$a\"; " .. h.bin ..
      " state ledger balance \"$a\" --tenant " .. TENANT .. flags .. " || echo none; done < " .. h.q(list))
    assert.equal(0, code, err)
    local got = {}
    for _, line in ipairs(h.lines(out)) do
      local account, state = line:match("^(%S+) (.*)$")
      got[account] = state ~= "none" and h.json(state) or nil
    end
    local n = 0
    for account, e in pairs(run.expected) do
      assert.same({ count = e.count, total = e.total, last_seq = e.count, in_order = true }, got[account],
        "fold of " .. account)
      n = n + 1
    end
    assert.equal(AGGREGATES, n)
  end

  it("folds every command exactly once with workers and senders redirected to the queue's node", function()
    if skip then
      pending(skip)
      return
    end
    local dir = root .. "/run1"
    h.sh("mkdir -p " .. h.q(dir))
    start_workers(dir, others)
    local run = fx.write_payloads(dir, COMMANDS, AGGREGATES, SENDERS)
    local t0 = servers.now()
    start_senders(dir, run, others[1])
    assert.equal(SENDERS, fx.wait_senders(run, 120 + COMMANDS / 20))
    local folded = servers.now() - t0
    local flags = flags_for(dir, others[2])
    wait_queue_empty(flags, 120)
    verify(dir, run, flags)
    -- the queue lives on the owner alone: the others were only redirecting
    assert.is_true(tonumber(cli(owner.port, "dbsize")) > 0, "queue keys on the owner")
    for _, n in ipairs(others) do
      assert.equal(0, tonumber(cli(n.port, "dbsize")), "keys on node " .. n.port)
    end
    for i, w in ipairs(workers) do
      assert.is_true(running(w.pid), "worker " .. i .. " died: " .. (read_file(w.log) or ""))
    end
    report("%d commands over %d aggregates through non-owner nodes: folded in %.1f s (%.0f commands/s)",
      COMMANDS, AGGREGATES, folded, COMMANDS / folded)
  end)
end)
