-- replay_distributed_spec.lua: `esengine replay` in distributed mode (issue
-- 8) against a real redis-server (queues, fold state of record, replay
-- checkpoint and shadow keys) and a real clickhouse-server (event log read
-- in ordered pages, queryable fold copy). Both are started here on free
-- loopback ports in a temp dir (spec/functional/servers.lua);
-- each test has its own ClickHouse database and an emptied Redis.
--
--   1. COMMANDS commands over ACCOUNTS accounts of three tenants, then the
--      ledger fold replayed while LIVE more commands arrive for two (one
--      state corrupted first in Redis and in the copy, so the swap must
--      replace both): the states (`esengine state`, i.e. Redis) and the
--      ClickHouse copy (FINAL) equal a clean fold of the event log
--      (ClickHouse FINAL) and the expected sums; no shadow key, no
--      checkpoint left;
--   2. one tenant replayed --since today (the IN subquery on created_at,
--      a tenant-scoped swap of the shadowed rows), --since in the future
--      reads nothing, a dry run finds no difference;
--   3. a slowed-down replay killed with -9 mid-scan, then run again:
--      it resumes from its checkpoint, same result.
--
-- Scale: ESENGINE_SPEC_REPLAY_COMMANDS (default 2000), _LIVE (default 600).
local h = require("spec.functional.helpers")
local cjson = require("cjson")
local servers = require("spec.functional.servers")

local COMMANDS = tonumber(os.getenv("ESENGINE_SPEC_REPLAY_COMMANDS")) or 2000
local LIVE = tonumber(os.getenv("ESENGINE_SPEC_REPLAY_LIVE")) or 600
local ACCOUNTS = 50
local TENANTS = { "t1", "t2", "t3" } -- t3 gets no live commands

-- The ledger: deposit appends one event; the fold counts, sums and checks
-- seq order. SPIN > 0 slows a replay down enough to kill it midway.
local PIPELINE = [[
local es = require("esengine")
local s = es.schema
return es.define_pipeline()
  :with_name("ledger")
  :with_aggregate_type("account")
  :with_command("deposit", {
    schema = s.object({ account = s.string(), amount = s.integer() }),
    aggregate_id = function(p) return p.account end,
    handle = function(cmd) return { es.event("ledger.deposited", { amount = cmd.data.amount }) } end,
  })
  :with_fold_projection("balance", {
    event_types = { "ledger.deposited" },
    store = es.stores.table("balances"),
    init = function() return { count = 0, total = 0, last_seq = 0, in_order = true } end,
    apply = function(state, event)
      for _ = 1, SPIN do end
      if event.seq ~= state.last_seq + 1 then state.in_order = false end
      state.last_seq = event.seq
      state.count = state.count + 1
      state.total = state.total + event.data.amount
      return state
    end,
  })
  :build()
]]

local s = servers
local read_file, write_file, running, wait_gone = s.read_file, s.write_file, s.running, s.wait_gone
local ch_query, ch_rows = s.ch_query, s.ch_rows

local function report(fmt, ...)
  io.stderr:write("replay_distributed_spec: " .. string.format(fmt, ...) .. "\n")
end

---------------------------------------------------------------- the spec

describe("replay with Redis and ClickHouse", function()
  local root, ch, redis, dir, db, flags, engine
  local db_n = 0

  local function redis_cli(args)
    local code, out, err = servers.redis_cli(redis.port, args)
    assert.equal(0, code, err)
    return out
  end

  local function write_pipeline(spin)
    h.sh("mkdir -p " .. h.q(dir .. "/pipelines/ledger"))
    write_file(dir .. "/pipelines/ledger/pipeline.lua", (PIPELINE:gsub("SPIN", tostring(spin))))
  end

  setup(function()
    root = h.tmpdir()
    ch = servers.clickhouse(root)
    servers.ch_start(ch)
    redis = servers.redis(root)
    servers.redis_start(redis)
  end)

  teardown(function()
    servers.redis_stop(redis)
    servers.ch_stop(ch)
    if not os.getenv("KEEP") then h.rmdir(root) end
  end)

  before_each(function()
    db_n = db_n + 1
    db = "es_replay_" .. db_n
    dir = root .. "/t" .. db_n
    h.sh("mkdir -p " .. h.q(dir))
    redis_cli("flushall")
    write_pipeline(0)
    flags = " --pipelines " .. h.q(dir .. "/pipelines") .. " --data " .. h.q(dir .. "/data") ..
      " --redis " .. servers.redis_url(redis) ..
      " --clickhouse " .. h.q(servers.ch_url(ch, db))
    local code, out, err = h.esengine("migrate" .. flags)
    assert.equal(0, code, out .. err)
  end)

  after_each(function()
    if engine and running(engine) then
      h.kill(engine, "KILL")
      wait_gone(engine, 10)
    end
    engine = nil
  end)

  local function start_engine()
    local log = dir .. "/run-" .. os.time() .. ".log"
    engine = h.spawn_exec(h.bin .. " run --workers 4 --listen 127.0.0.1:0" .. flags, log)
    h.wait_until("the engine to start", 30, function()
      assert(running(engine), "engine exited: " .. (read_file(log) or ""))
      return (read_file(log) or ""):find("running", 1, true)
    end)
  end

  local function stop_engine()
    h.kill(engine, "TERM")
    assert.is_true(wait_gone(engine, 30), "engine did not stop")
  end

  -- Writes `n` deposit lines per tenant starting at line `from`; line i
  -- deposits (i % 7) + 1 into acct-(i % ACCOUNTS). Adds them to expected.
  local function payloads(from, n, expected, tag, tenants)
    local files = {}
    for _, tenant in ipairs(tenants) do
      local lines = {}
      local per = tenant == "t1" and n or math.floor(n / 4) -- t2 smaller
      for i = from, from + per - 1 do
        local account, amount = "acct-" .. (i % ACCOUNTS), (i % 7) + 1
        lines[#lines + 1] = string.format('{"account":"%s","amount":%d}', account, amount)
        expected[tenant] = expected[tenant] or {}
        local e = expected[tenant][account] or { count = 0, total = 0 }
        e.count, e.total = e.count + 1, e.total + amount
        expected[tenant][account] = e
      end
      files[tenant] = dir .. "/" .. tag .. "-" .. tenant .. ".jsonl"
      write_file(files[tenant], table.concat(lines, "\n") .. "\n")
    end
    return files
  end

  local function send_cmd(tenant, file, tag)
    return h.bin .. " send ledger deposit - --tenant " .. tenant .. " --id " .. h.q(tag .. "-" .. tenant) ..
      " --wait=600" .. flags .. " < " .. h.q(file) .. " > /dev/null"
  end

  local function send_all(files, tag)
    for tenant in pairs(files) do
      local code, out, err = h.sh(send_cmd(tenant, files[tenant], tag))
      assert.equal(0, code, out .. err)
    end
  end

  local function wait_queue_empty(seconds)
    h.wait_until("the queue to drain", seconds, function()
      local code, out, err = h.esengine("status --json" .. flags)
      assert.equal(0, code, err)
      for _, line in ipairs(h.lines(out)) do
        local row = h.json(line)
        if row.kind and row.pending + row.delayed + row.in_flight > 0 then return false end
      end
      return true
    end)
  end

  local lit = servers.lit

  -- Asserts: a clean fold of the ClickHouse event log (FINAL) = expected =
  -- the state of record (`esengine state`) = the ClickHouse copy (FINAL);
  -- no shadow key and no checkpoint left in Redis.
  local function verify(expected)
    for tenant in pairs(expected) do
      local log = {}
      for _, ev in ipairs(ch_rows(ch, "SELECT aggregate_id, seq, data FROM " .. db ..
        ".events FINAL WHERE tenant_id = " .. lit(tenant) .. " ORDER BY aggregate_id, seq")) do
        local l = log[ev.aggregate_id] or { count = 0, total = 0, last_seq = 0, in_order = true }
        if tonumber(ev.seq) ~= l.last_seq + 1 then l.in_order = false end
        l.last_seq = tonumber(ev.seq)
        l.count = l.count + 1
        l.total = l.total + cjson.decode(ev.data).amount
        log[ev.aggregate_id] = l
      end
      local copy = {}
      for _, row in ipairs(ch_rows(ch, "SELECT key, state, last_seq FROM " .. db ..
        ".balances FINAL WHERE tenant_id = " .. lit(tenant))) do
        copy[row.key] = cjson.decode(row.state)
        assert.equal(copy[row.key].last_seq, tonumber(row.last_seq), "last_seq column of " .. row.key)
      end
      for account, e in pairs(expected[tenant]) do
        local want = { count = e.count, total = e.total, last_seq = e.count, in_order = true }
        assert.same(want, log[account], tenant .. "/" .. account .. ": fold of the event log")
        local code, out, err = h.esengine("state ledger balance " .. account .. " --tenant " .. tenant .. flags)
        assert.equal(0, code, err)
        assert.same(want, h.json(out), tenant .. "/" .. account .. ": state of record")
        assert.same(want, copy[account], tenant .. "/" .. account .. ": ClickHouse copy")
      end
    end
    assert.equal("", redis_cli("--scan --pattern '*balances__replay*'"):gsub("%s", ""), "shadow keys left")
    assert.equal("", redis_cli("--scan --pattern '*:replay:*'"):gsub("%s", ""), "checkpoint left")
    assert.equal(3, (h.esengine("replay ledger balance --abort" .. flags)), "nothing to abort")
  end

  it("replays the ledger fold while " .. LIVE .. " commands arrive: equal to a clean fold of the log", function()
    start_engine()
    local expected = {}
    local t0 = os.time()
    send_all(payloads(1, COMMANDS, expected, "load", TENANTS), "load")
    report("%d commands loaded in ~%d s", COMMANDS + 2 * math.floor(COMMANDS / 4), os.time() - t0)
    -- wrong states at the right seq, in Redis and in the ClickHouse copy
    -- (t3/acct-3 gets no live command): only the replay puts them right
    local seq = h.json(select(2, h.esengine("state ledger balance acct-3 --tenant t3" .. flags))).last_seq
    local wrong = '{"count":0,"total":0,"last_seq":' .. seq .. ',"in_order":true}'
    local file = dir .. "/corrupt.redis" -- stdin mode: redis-cli parses "\x1f" and \"
    write_file(file, 'HSET "esengine:fold:{t3}:balances\\x1facct-3" state "' .. wrong:gsub('"', '\\"') .. '"\n')
    redis_cli("< " .. h.q(file))
    ch_query(ch, "INSERT INTO " .. db .. ".balances (tenant_id, key, state, last_seq, updated_at) VALUES " ..
      "('t3', 'acct-3', " .. lit(wrong) .. ", " .. seq .. ", 0)")
    assert.equal(0, h.json(select(2, h.esengine("state ledger balance acct-3 --tenant t3" .. flags))).count)
    assert.equal(wrong, ch_rows(ch, "SELECT state FROM " .. db ..
      ".balances FINAL WHERE tenant_id = 't3' AND key = 'acct-3'")[1].state)
    -- new commands during the replay
    local files = payloads(COMMANDS + 1, LIVE, expected, "live", { "t1", "t2" })
    local done = dir .. "/live.done"
    local sender = h.spawn("(" .. send_cmd("t1", files.t1, "live") .. " && " .. send_cmd("t2", files.t2, "live") ..
      ") ; echo $? > " .. h.q(done))
    t0 = os.time()
    local code, out, err = h.esengine("replay ledger balance --page-events 300 --json" .. flags)
    assert.equal(0, code, out .. err)
    assert.matches('"replayed":"ledger/balance"', out, 1, true)
    report("replay done in ~%d s: %s", os.time() - t0, h.lines(out)[#h.lines(out)])
    local sender_code = h.wait_until("the live sender", 300, function() return (read_file(done) or ""):match("%d+") end)
    assert.equal("0", sender_code, "live sender failed")
    assert.is_true(h.wait_exit(sender, 10))
    wait_queue_empty(120)
    verify(expected)
    stop_engine()
  end)

  it("replays one tenant --since today, and a dry run finds no difference", function()
    start_engine()
    local expected = {}
    send_all(payloads(1, math.floor(COMMANDS / 4), expected, "load", TENANTS), "load")
    local code, out, err = h.esengine("replay ledger balance --tenant t2 --since " .. os.date("!%Y-%m-%d") ..
      " --json" .. flags)
    assert.equal(0, code, out .. err)
    local result = h.json(h.lines(out)[#h.lines(out)])
    assert.equal(ACCOUNTS, result.aggregates, "every t2 account, no other tenant's")
    code, out, err = h.esengine("replay ledger balance --since 2999-01-01 --json" .. flags)
    assert.equal(0, code, out .. err)
    assert.equal(0, h.json(h.lines(out)[#h.lines(out)]).events, "nothing touched since 2999")
    code, out, err = h.esengine("replay ledger balance --dry-run --json" .. flags)
    assert.equal(0, code, out .. err)
    assert.is_nil(out:find('"differs":true', 1, true))
    verify(expected)
    stop_engine()
  end)

  it("resumes a replay killed with -9", function()
    start_engine()
    local expected = {}
    send_all(payloads(1, COMMANDS, expected, "load", TENANTS), "load")
    stop_engine()
    write_pipeline(20000) -- same fold, slower
    local log = dir .. "/replay.log"
    local rpid = h.spawn_exec(h.bin .. " replay ledger balance --json --page-events 100" .. flags, log)
    h.wait_until("replay progress", 60, function()
      local text = read_file(log) or ""
      local pages = select(2, text:gsub('"phase":"scan"', ""))
      return pages >= 3 or not running(rpid)
    end)
    h.kill(rpid, "KILL")
    assert.is_true(wait_gone(rpid, 10))
    assert.is_nil((read_file(log) or ""):find('"replayed"', 1, true), "the replay finished before the kill")
    assert.truthy(redis_cli("--scan --pattern '*:replay:*'"):find("replay", 1, true), "a checkpoint is kept")
    write_pipeline(0)
    local code, out, err = h.esengine("replay ledger balance --json" .. flags)
    assert.equal(0, code, out .. err)
    assert.matches('"replayed":"ledger/balance"', out, 1, true)
    assert.matches('"resumed":true', out, 1, true)
    verify(expected)
    local _, status = h.esengine("status --json" .. flags)
    assert.is_nil(status:find('"pause"', 1, true), "the replay's pause was lifted")
  end)
end)
