-- fixtures.lua: inputs the functional specs write for the real binary:
-- the "bank" pipeline of the ops specs and the multi-sender deposit runs of
-- the distributed specs (their payload files, the waiting on senders and
-- workers, the queue rows of status).
local h = require("spec.functional.helpers")
local s = require("spec.functional.servers")
local assert = require("luassert")

local f = {}

-- The bank pipeline: deposit_many appends `count` events of `amount` to one
-- account; the fold counts, sums and checks seq order; kill switch on.
-- SPIN > 0 slows each fold step down (a replay then takes long enough to
-- be killed midway); 0 costs nothing.
local BANK = [[
local es = require("esengine")
local s = es.schema
return es.define_pipeline()
  :with_name("bank")
  :with_aggregate_type("account")
  :with_command("deposit_many", {
    schema = s.object({ account = s.string(), amount = s.integer(), count = s.integer() }),
    aggregate_id = function(p) return p.account end,
    handle = function(cmd)
      local out = {}
      for i = 1, cmd.data.count do
        out[i] = es.event("bank.deposited", { amount = cmd.data.amount })
      end
      return out
    end,
  })
  :with_fold_projection("balance", {
    event_types = { "bank.deposited" },
    store = es.stores.table("bank_balances"),
    init = function() return { count = 0, total = 0, last_seq = 0, in_order = true } end,
    apply = function(state, event)
      for _ = 1, SPIN do end -- SPIN > 0 slows a replay down enough to kill it midway
      if event.seq ~= state.last_seq + 1 then state.in_order = false end
      state.last_seq = event.seq
      state.count = state.count + 1
      state.total = state.total + event.data.amount
      return state
    end,
  })
  :with_kill_switch()
  :build()
]]

function f.bank_pipeline(spin)
  return (BANK:gsub("SPIN", tostring(spin or 0)))
end

-- Writes pipelines_dir/bank/pipeline.lua (creating the dir).
function f.write_bank_pipeline(pipelines_dir, spin)
  h.sh("mkdir -p " .. h.q(pipelines_dir .. "/bank"))
  s.write_file(pipelines_dir .. "/bank/pipeline.lua", f.bank_pipeline(spin))
end

-- The bank fold of one account (`esengine state`, with `flags` naming the
-- pipelines, data and queue), or nil when there is none yet.
function f.bank_state(flags, tenant, account)
  local code, out = h.esengine("state bank balance " .. account .. " --tenant " .. tenant .. flags)
  if code ~= 0 then return nil end
  return h.json(out)
end

-- Waits until every account of `expected` ({account = {count, total}}) has
-- that state, folded in seq order.
function f.wait_bank_states(flags, tenant, expected, seconds)
  h.wait_until("states of " .. tenant, seconds, function()
    for account, want in pairs(expected) do
      local st = f.bank_state(flags, tenant, account)
      if not st or st.count ~= want.count then return false end
    end
    return true
  end)
  for account, want in pairs(expected) do
    local st = f.bank_state(flags, tenant, account)
    assert.are.equal(want.count, st.count, account)
    assert.are.equal(want.total, st.total, account)
    assert.is_true(st.in_order, account)
  end
end

-- The commands of a ledger run: line i deposits (i % 7) + 1 into
-- acct-(i % aggregates), with n = i. Sender s owns the aggregates a with
-- a % senders == s - 1, so each aggregate's enqueue order is its sender's
-- line order. Returns {expected = {account -> {count, total, ns = {n...}}},
-- files = {one payload file per sender}, commands = commands}.
function f.write_payloads(dir, commands, aggregates, senders)
  local expected, files, handles = {}, {}, {}
  for i = 1, senders do
    files[i] = dir .. "/payloads-" .. i .. ".jsonl"
    handles[i] = assert(io.open(files[i], "w"))
  end
  for i = 1, commands do
    local a = i % aggregates
    local account = "acct-" .. a
    local amount = (i % 7) + 1
    local e = expected[account] or { count = 0, total = 0, ns = {} }
    e.count, e.total = e.count + 1, e.total + amount
    e.ns[#e.ns + 1] = i
    expected[account] = e
    handles[(a % senders) + 1]:write(string.format('{"account":"%s","amount":%d,"n":%d}\n', account, amount, i))
  end
  for i = 1, senders do handles[i]:close() end
  return { expected = expected, files = files, commands = commands }
end

-- Waits for every sender of a run (each writes "exit=CODE tries=N" to
-- FILE.done and logs to FILE.log); asserts each exited 0; returns the
-- total number of tries. The shell creates FILE.done before it writes the
-- line, so the wait is for the whole line, not for the file.
function f.wait_senders(run, seconds)
  local tries = 0
  for i, path in ipairs(run.files) do
    local line = h.wait_until("sender " .. i .. " to finish", seconds, function()
      return (s.read_file(path .. ".done") or ""):match("exit=%d+ tries=%d+")
    end)
    local code, n = line:match("exit=(%d+) tries=(%d+)")
    assert.equal("0", code, "sender " .. i .. " failed: " .. (s.read_file(path .. ".log") or ""))
    tries = tries + tonumber(n)
  end
  return tries
end

-- Waits until every worker {pid, log} of `workers` logs that it runs, in
-- any role (30 s each), failing with its log when one exits first.
function f.wait_workers(workers)
  for _, w in ipairs(workers) do
    h.wait_until("worker " .. w.pid .. " to start", 30, function()
      local text = s.read_file(w.log) or ""
      assert(s.running(w.pid), "worker " .. w.pid .. " exited: " .. text)
      return text:find("running role", 1, true)
    end)
  end
end

-- The queue rows of `esengine status --json FLAGS` (not the worker,
-- projection or pause lines).
function f.status_rows(flags)
  local code, out, err = h.esengine("status --json " .. flags)
  assert.equal(0, code, err)
  local rows = {}
  for _, line in ipairs(h.lines(out)) do
    local row = h.json(line)
    if row.kind then rows[#rows + 1] = row end
  end
  return rows
end

-- Waits until no queue of `esengine status --json FLAGS` has a job pending,
-- delayed or in flight (maps included), asserting on the way that none is
-- parked.
function f.wait_queue_empty(flags, seconds)
  h.wait_until("the queue to drain", seconds, function()
    for _, row in ipairs(f.status_rows(flags)) do
      assert.equal(0, row.parked, "parked jobs in " .. row.component)
      if row.pending + row.delayed + row.in_flight > 0 then return false end
    end
    return true
  end)
end

-- Asserts that `esengine parked list FLAGS` lists nothing.
function f.assert_nothing_parked(flags)
  local code, listing, err = h.esengine("parked list " .. flags)
  assert.equal(0, code, err)
  assert.equal("", listing)
end

return f
