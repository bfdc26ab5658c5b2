-- status_spec.lua: `esengine status` as an operator sees a running fleet
-- (issues 3 and 8), against the real binary and the embedded store: the
-- worker registry (a running process listed with a fresh heartbeat, its
-- jobs and script generation; reported lost once killed), the lag of a
-- held fold projection, and the same figures in /metrics; and the opt-in
-- SQL statement profile of the embedded store.
local h = require("spec.functional.helpers")

local LEASE_MS = 600 -- short, so a killed worker is lost within 3 leases

local function free_port()
  local _, out = h.sh("python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'")
  return tonumber(out:match("%d+"))
end

describe("esengine status", function()
  local dir, flags, runner, port

  -- Parsed `status --json` lines, split by what they describe.
  local function status()
    local code, out, err = h.esengine("status --json " .. flags)
    assert.equal(0, code, err)
    local s = { queues = {}, workers = {}, projections = {} }
    for _, line in ipairs(h.lines(out)) do
      local row = h.json(line)
      if row.worker then s.workers[#s.workers + 1] = row.worker
      elseif row.projection then s.projections[#s.projections + 1] = row.projection
      elseif row.kind then s.queues[#s.queues + 1] = row end
    end
    return s
  end

  local function worker_of(s, pid)
    for _, w in ipairs(s.workers) do
      if w.pid == pid then return w end
    end
  end

  local function start_runner()
    port = free_port()
    runner = h.spawn_exec(h.bin .. " run " .. flags .. " --workers 2 --lease-ms " .. LEASE_MS ..
      " --listen 127.0.0.1:" .. port, dir .. "/run.log")
    h.wait_until("the engine to start", 20, function()
      local f = io.open(dir .. "/run.log")
      local text = f and f:read("*a") or ""
      if f then f:close() end
      return text:find("running role", 1, true)
    end)
  end

  before_each(function()
    dir = h.tmpdir()
    flags = "--pipelines " .. h.q(h.fixtures) .. " --data " .. h.q(dir .. "/data")
  end)

  after_each(function()
    if runner and h.alive(runner) then
      h.kill(runner, "KILL")
      h.wait_exit(runner, 10)
    end
    runner = nil
    if os.getenv("KEEP") then print("kept " .. dir) else h.rmdir(dir) end
  end)

  it("lists a running worker with a fresh heartbeat, then reports it lost once killed", function()
    start_runner()
    local w = h.wait_until("status to list the worker with a fresh heartbeat", 20, function()
      local found = worker_of(status(), runner)
      return found and found.state == "alive" and found.last_heartbeat_age_s < 2 and found
    end)
    assert.equal("all", w.role)
    assert.equal(2, w.threads)
    assert.truthy(#w.generation > 0, "the worker reports its script generation")
    local _, generation = h.esengine("check --pipelines " .. h.q(h.fixtures))
    assert.truthy(generation:find(w.generation, 1, true), generation)

    -- Jobs it runs show in its count: the five commands (their folds run
    -- in the commands' own units, engine/inline_projections.h).
    for i = 1, 5 do
      local code, _, err = h.esengine("send ledger deposit '{\"account\":\"a" .. i ..
        "\",\"amount\":1}' --tenant t1 --wait " .. flags)
      assert.equal(0, code, err)
    end
    h.wait_until("the worker's job count to include the sent commands", 20, function()
      local found = worker_of(status(), runner)
      return found and found.jobs_done >= 5
    end)

    -- The text form has the section too.
    local code, text = h.esengine("status " .. flags)
    assert.equal(0, code)
    assert.truthy(text:find("workers seen: 1 alive, 0 lost, 0 stopped", 1, true), text)

    h.kill(runner, "KILL")
    assert.is_true(h.wait_exit(runner, 10))
    local lost = h.wait_until("status to report the killed worker lost", 20, function()
      local found = worker_of(status(), runner)
      return found and found.state == "lost" and found
    end)
    assert.truthy(lost.last_heartbeat_age_s * 1000 > 3 * LEASE_MS)
    code, text = h.esengine("status " .. flags)
    assert.equal(0, code)
    assert.truthy(text:find("workers seen: 0 alive, 1 lost, 0 stopped", 1, true), text)
  end)

  it("reports a worker that shut down cleanly as stopped, not lost", function()
    start_runner()
    h.wait_until("status to list the worker alive", 20, function()
      local found = worker_of(status(), runner)
      return found and found.state == "alive"
    end)
    h.kill(runner, "TERM")
    assert.is_true(h.wait_exit(runner, 20))
    local w = worker_of(status(), runner)
    assert.truthy(w, "the stopped worker is still listed")
    assert.equal("stopped", w.state)
    assert.equal(0, w.threads)
    local code, text = h.esengine("status " .. flags)
    assert.equal(0, code)
    assert.truthy(text:find("workers seen: 0 alive, 0 lost, 1 stopped", 1, true), text)
  end)

  it("shows the lag of a held fold per projection, and the registry in /metrics", function()
    start_runner()
    assert.equal(0, (h.esengine("pause ledger/balance " .. flags)))
    for i = 1, 4 do
      local code, _, err = h.esengine("send ledger deposit '{\"account\":\"lag\",\"amount\":" ..
        i .. "}' --tenant t1 " .. flags)
      assert.equal(0, code, err)
    end
    -- The commands run; their events wait for the held fold.
    local lag = h.wait_until("the balance fold to lag by 4 events", 20, function()
      for _, p in ipairs(status().projections) do
        if p.pipeline == "ledger" and p.fold == "balance" and p.events_unapplied == 4 then
          return p
        end
      end
    end)
    assert.equal(0, lag.parked_groups)
    assert.truthy(lag.lag_s >= 0)

    local _, metrics = h.sh("curl -s --max-time 10 http://127.0.0.1:" .. port .. "/metrics")
    assert.truthy(metrics:find("\nesengine_workers_seen 1\n", 1, true), metrics)
    assert.truthy(metrics:find('esengine_worker_last_heartbeat_age_seconds{worker="', 1, true),
      metrics)
    assert.truthy(metrics:find('esengine_paused{pipeline="ledger",component="balance",tenant="*",mode="hold"} 1',
      1, true), metrics)
    assert.truthy(metrics:find('esengine_fold_needs_replay{pipeline="ledger",fold="balance"} 0', 1, true),
      metrics)
    assert.truthy(metrics:find('esengine_queue_jobs{pipeline="ledger",component="balance"', 1, true),
      metrics)
    -- the map is not held: the commands applied it themselves, no job queued
    assert.truthy(metrics:find('esengine_events_projected_inline_total{pipeline="ledger",component="entries",kind="map"} 4',
      1, true), metrics)
    assert.falsy(metrics:find('esengine_events_projected_inline_total{pipeline="ledger",component="balance"',
      1, true), metrics)

    assert.equal(0, (h.esengine("resume ledger/balance " .. flags)))
    h.wait_until("the fold to catch up", 20, function()
      for _, p in ipairs(status().projections) do
        if p.fold == "balance" then return false end
      end
      return true
    end)
    local code, state = h.esengine("state ledger balance lag --tenant t1 " .. flags)
    assert.equal(0, code)
    assert.truthy(state:find("\"total\":10", 1, true), state)
  end)

  it("logs each SQL statement's share of the write time with ESENGINE_SQLITE_PROFILE=1", function()
    local code, _, err = h.sh("ESENGINE_SQLITE_PROFILE=1 " .. h.bin .. " send ledger deposit " ..
      "'{\"account\":\"p\",\"amount\":1}' --tenant t1 " .. flags)
    assert.equal(0, code, err)
    assert.truthy(err:find("sqlite profile: [%d.]+ s in statements of the shared connection"), err)
    assert.truthy(err:find("us/run  INSERT OR IGNORE INTO jobs", 1, true), err)
    code, _, err = h.esengine("send ledger deposit '{\"account\":\"p\",\"amount\":1}' --tenant t1 " .. flags)
    assert.equal(0, code, err)
    assert.falsy(err:find("sqlite profile", 1, true), err)
  end)
end)
