-- http_spec.lua: the web role (issue 5) against the real binary: `esengine
-- run --listen` on a free loopback port and a temp data dir, driven with
-- curl: every endpoint and error status, API keys and tenancy (cross-tenant
-- reads refused), OTLP/HTTP JSON, protobuf and gzip, and the official
-- OpenTelemetry JS exporters (npm) whose traces must come back as trace
-- summaries through GET /api/state.
local h = require("spec.functional.helpers")
local cjson = require("cjson")

local function free_port()
  local _, out = h.sh("python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'")
  return tonumber(out:match("%d+"))
end

-- curl wrapper: returns status, body, headers text.
local function curl(method, url, opts)
  opts = opts or {}
  local hdr_file = os.tmpname()
  local args = { "curl -s -o - -D " .. h.q(hdr_file) .. " -X " .. method .. " --max-time 20" }
  for _, hdr in ipairs(opts.headers or {}) do args[#args + 1] = "-H " .. h.q(hdr) end
  if opts.body_file then
    args[#args + 1] = "--data-binary @" .. h.q(opts.body_file)
  elseif opts.body then
    args[#args + 1] = "--data-binary " .. h.q(opts.body)
  end
  args[#args + 1] = h.q(url)
  local _, body = h.sh(table.concat(args, " "))
  local f = io.open(hdr_file)
  local headers = f and f:read("*a") or ""
  if f then f:close() end
  os.remove(hdr_file)
  local status = tonumber(headers:match("HTTP/1%.%d (%d+)")) or 0
  return status, body, headers
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- A pipelines dir with the shipped pipelines and the ledger fixture.
local function pipelines_dir(dir)
  local p = dir .. "/pipelines"
  h.sh("mkdir -p " .. h.q(p) .. " && for d in pipelines/*/; do ln -s \"$(pwd)/$d\" " .. h.q(p) ..
    "/; done && ln -s \"$(pwd)/" .. h.fixtures .. "/ledger\" " .. h.q(p) .. "/ledger")
  return p
end

describe("the web role", function()
  local dir, base, runner, port

  local function start(extra)
    port = free_port()
    base = "http://127.0.0.1:" .. port
    runner = h.spawn(h.bin .. " run --pipelines " .. h.q(pipelines_dir(dir)) .. " --data " ..
      h.q(dir .. "/data") .. " --workers 2 --listen 127.0.0.1:" .. port .. " " .. (extra or ""),
      dir .. "/run.log")
    h.wait_until("GET /healthz on " .. base .. " (is --listen wired into run?)", 20, function()
      assert(h.alive(runner), "esengine run exited; see its log")
      return (curl("GET", base .. "/healthz")) == 200
    end)
  end

  -- Polls the state endpoint until `pred(state)` holds.
  local function wait_state(path, headers, what, pred)
    return h.wait_until(what, 30, function()
      local status, body = curl("GET", base .. path, { headers = headers })
      if status ~= 200 then return nil end
      local state = cjson.decode(body)
      return pred(state) and state
    end)
  end

  before_each(function()
    dir = h.tmpdir()
  end)

  after_each(function()
    if runner and h.alive(runner) then
      h.kill(runner, "TERM")
      assert.is_true(h.wait_exit(runner, 30), "engine did not stop on SIGTERM")
    end
    runner = nil
    h.rmdir(dir)
  end)

  describe("without API keys (loopback, X-Tenant-Id)", function()
    before_each(function() start() end)

    local A = { "X-Tenant-Id: tenant-a", "Content-Type: application/json" }
    local B = { "X-Tenant-Id: tenant-b", "Content-Type: application/json" }

    it("answers health, readiness and metrics", function()
      assert.equal(200, (curl("GET", base .. "/healthz")))
      local status, body = curl("GET", base .. "/readyz")
      assert.equal(200, status, body)
      local _, metrics, headers = curl("GET", base .. "/metrics")
      assert.truthy(headers:find("text/plain; version=0.0.4", 1, true))
      assert.truthy(metrics:find("# TYPE esengine_jobs_processed_total counter", 1, true))
      assert.equal(405, (curl("DELETE", base .. "/healthz")))
      assert.equal(404, (curl("GET", base .. "/nope")))
    end)

    it("accepts commands, folds them and serves state and events per tenant", function()
      local status, body = curl("POST", base .. "/api/commands/ledger/deposit",
        { headers = A, body = '{"account":"acc-1","amount":7}' })
      assert.equal(202, status, body)
      assert.truthy(cjson.decode(body).job_id)
      local state = wait_state("/api/state/ledger/balance/acc-1", A, "the balance fold",
        function(s) return s ~= nil end)
      assert.is_table(state)
      local events_status, events = curl("GET", base .. "/api/events/account/acc-1", { headers = A })
      assert.equal(200, events_status)
      local list = cjson.decode(events)
      assert.equal(1, #list)
      assert.equal(1, list[1].seq)
      assert.equal("tenant-a", list[1].tenant_id)

      -- Tenant b cannot read tenant a's state or events, and its own write
      -- to the same aggregate id stays its own.
      assert.equal(404, (curl("GET", base .. "/api/state/ledger/balance/acc-1", { headers = B })))
      local _, b_events = curl("GET", base .. "/api/events/account/acc-1", { headers = B })
      assert.same({}, cjson.decode(b_events))
      -- A tenant_id in the payload does not pick the tenant.
      assert.equal(202, (curl("POST", base .. "/api/commands/ledger/deposit",
        { headers = B, body = '{"account":"acc-1","amount":1,"tenant_id":"tenant-a"}' })))
      wait_state("/api/state/ledger/balance/acc-1", B, "tenant b's own fold", function(s) return s end)
      local _, a_events = curl("GET", base .. "/api/events/account/acc-1", { headers = A })
      assert.equal(1, #cjson.decode(a_events))
    end)

    it("answers every error status of the command endpoint", function()
      local status, body = curl("POST", base .. "/api/commands/ledger/deposit",
        { headers = A, body = '{"account":5,"amount":"x"}' })
      assert.equal(400, status)
      local err = cjson.decode(body)
      local paths = {}
      for _, e in ipairs(err.errors) do paths[e.path] = true end
      assert.is_true(paths.account and paths.amount, body)
      assert.equal(400, (curl("POST", base .. "/api/commands/ledger/deposit", { headers = A, body = '{"a":' })))
      assert.equal(404, (curl("POST", base .. "/api/commands/ledger/nope", { headers = A, body = "{}" })))
      assert.equal(404, (curl("POST", base .. "/api/commands/nope/deposit", { headers = A, body = "{}" })))
      assert.equal(405, (curl("GET", base .. "/api/commands/ledger/deposit", { headers = A })))
      assert.equal(415, (curl("POST", base .. "/api/commands/ledger/deposit",
        { headers = { "X-Tenant-Id: tenant-a", "Content-Type: text/plain" }, body = "{}" })))
      assert.equal(401, (curl("POST", base .. "/api/commands/ledger/deposit",
        { headers = { "Content-Type: application/json" }, body = "{}" })))
      local big = dir .. "/big.json"
      h.sh("head -c 11000000 /dev/zero | tr '\\0' ' ' > " .. h.q(big))
      assert.equal(413, (curl("POST", base .. "/api/commands/ledger/deposit", { headers = A, body_file = big })))
      local deep = string.rep("[", 1000) .. string.rep("]", 1000)
      assert.equal(400, (curl("POST", base .. "/api/commands/ledger/deposit", { headers = A, body = deep })))
      assert.equal(404, (curl("GET", base .. "/api/state/ledger/nofold/x", { headers = A })))
      assert.equal(404, (curl("GET", base .. "/api/state/ledger/balance/never", { headers = A })))
    end)

    it("pauses and resumes a fold for the request's tenant only (the kill switch)", function()
      local status, body = curl("POST", base .. "/api/pause/ledger/balance", { headers = A })
      assert.equal(200, status, body)
      assert.equal("paused (hold)", cjson.decode(body).state)
      assert.equal("tenant-a", cjson.decode(body).tenant_id)
      assert.equal(202, (curl("POST", base .. "/api/commands/ledger/deposit",
        { headers = A, body = '{"account":"p-1","amount":3}' })))
      -- tenant a's event is stored, so its fold job is queued from here on
      h.wait_until("tenant a's command handled", 10, function()
        local _, events = curl("GET", base .. "/api/events/account/p-1", { headers = A })
        return #cjson.decode(events) == 1
      end)
      -- two of tenant b's folds queued after it are applied one after the
      -- other: a fold job of tenant a that the pause did not hold would have
      -- been claimed long before the second
      for _, step in ipairs({ { amount = 4, total = 4 }, { amount = 5, total = 9 } }) do
        assert.equal(202, (curl("POST", base .. "/api/commands/ledger/deposit",
          { headers = B, body = ('{"account":"p-1","amount":%d}'):format(step.amount) })))
        wait_state("/api/state/ledger/balance/p-1", B, "tenant b's fold (not paused)",
          function(s) return s.total == step.total end)
      end
      assert.equal(404, (curl("GET", base .. "/api/state/ledger/balance/p-1", { headers = A })))
      status, body = curl("POST", base .. "/api/resume/ledger/balance", { headers = A })
      assert.equal(200, status, body)
      assert.equal("resumed", cjson.decode(body).state)
      wait_state("/api/state/ledger/balance/p-1", A, "tenant a's fold after resume",
        function(s) return s.total == 3 end)

      -- a reject pause refuses the tenant's commands with 429, naming it
      assert.equal(200, (curl("POST", base .. "/api/pause/ledger", { headers = A, body = '{"mode":"reject"}' })))
      status, body = curl("POST", base .. "/api/commands/ledger/deposit",
        { headers = A, body = '{"account":"p-1","amount":1}' })
      assert.equal(429, status)
      assert.truthy(body:find("paused with --reject", 1, true), body)
      assert.equal(202, (curl("POST", base .. "/api/commands/ledger/deposit",
        { headers = B, body = '{"account":"p-1","amount":1}' })))
      assert.equal(200, (curl("POST", base .. "/api/resume/ledger", { headers = A })))

      -- errors
      assert.equal(404, (curl("POST", base .. "/api/resume/ledger", { headers = A })))
      assert.equal(404, (curl("POST", base .. "/api/pause/nope", { headers = A })))
      assert.equal(404, (curl("POST", base .. "/api/pause/ledger/nofold", { headers = A })))
      assert.equal(400, (curl("POST", base .. "/api/pause/ledger", { headers = A, body = '{"mode":"stop"}' })))
      assert.equal(405, (curl("GET", base .. "/api/pause/ledger", { headers = A })))
      assert.equal(401, (curl("POST", base .. "/api/pause/ledger")))
    end)

    it("times out a slow client that sends nothing", function()
      -- A connection that never finishes its headers is closed by the
      -- server (timeout configured at 30 s by default; here we only check
      -- that other clients are served meanwhile).
      local slow = h.spawn("bash -c " .. h.q("exec 3<>/dev/tcp/127.0.0.1/" .. port ..
        "; printf 'GET /healthz HTTP/1.1\\r\\n' >&3; sleep 60"))
      assert.equal(200, (curl("GET", base .. "/healthz")))
      h.kill(slow, "KILL")
    end)

    describe("OTLP/HTTP", function()
      local function otlp_fixture(name)
        local f = assert(io.open("spec/pipelines/fixtures/" .. name))
        local text = f:read("*a")
        f:close()
        return text
      end

      local function otlp_wired()
        local status = curl("POST", base .. "/v1/traces", { headers = A, body = '{"resourceSpans":[]}' })
        return status ~= 501
      end

      it("rejects bad OTLP bodies with the right statuses", function()
        assert.equal(415, (curl("POST", base .. "/v1/traces",
          { headers = { "X-Tenant-Id: tenant-a", "Content-Type: text/plain" }, body = "x" })))
        assert.equal(400, (curl("POST", base .. "/v1/traces",
          { headers = { "X-Tenant-Id: tenant-a", "Content-Type: application/x-protobuf" },
            body = "\10\255\255\255\255\15" })))
        assert.equal(400, (curl("POST", base .. "/v1/traces",
          { headers = { "X-Tenant-Id: tenant-a", "Content-Type: application/json",
                        "Content-Encoding: gzip" }, body = "not gzip" })))
        -- A gzip bomb: 200 MB of zeros, refused past the decompressed limit.
        local bomb = dir .. "/bomb.gz"
        h.sh("head -c 200000000 /dev/zero | gzip -9 > " .. h.q(bomb))
        assert.equal(413, (curl("POST", base .. "/v1/traces",
          { headers = { "X-Tenant-Id: tenant-a", "Content-Type: application/json",
                        "Content-Encoding: gzip" }, body_file = bomb })))
      end)

      it("turns JSON, gzip and protobuf exports into trace summaries", function()
        if not otlp_wired() then
          pending("POST /v1/traces answers 501: the engine's OTLP conversion is not wired (http_server_options.otlp_convert)")
          return
        end
        local text = otlp_fixture("openai_chat.json")
        local status, body = curl("POST", base .. "/v1/traces", { headers = A, body = text })
        assert.equal(200, status, body)
        local trace_id = text:match('"traceId"%s*:%s*"(%x+)"'):lower()
        wait_state("/api/state/trace_processing/trace_summary/" .. trace_id, A,
          "the trace summary", function(s) return s.span_count and s.span_count >= 1 end)
        assert.equal(404, (curl("GET", base .. "/api/state/trace_processing/trace_summary/" .. trace_id,
          { headers = B })))
        -- gzip: the same request again is deduplicated (same span ids).
        local gz = dir .. "/req.json.gz"
        write(dir .. "/req.json", text)
        h.sh("gzip -c " .. h.q(dir .. "/req.json") .. " > " .. h.q(gz))
        status = curl("POST", base .. "/v1/traces", { headers = { "X-Tenant-Id: tenant-a",
          "Content-Type: application/json", "Content-Encoding: gzip" }, body_file = gz })
        assert.equal(200, status)
        -- A request with one invalid span: partial success.
        local partial = '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"00","name":"x"}]}]}]}'
        status, body = curl("POST", base .. "/v1/traces", { headers = A, body = partial })
        assert.equal(200, status, body)
        assert.equal("1", tostring(cjson.decode(body).partialSuccess.rejectedSpans))
      end)

      it("matches what the OpenTelemetry JS exporters sent (http/json and http/protobuf)", function()
        if not otlp_wired() then
          pending("POST /v1/traces answers 501: the engine's OTLP conversion is not wired (http_server_options.otlp_convert)")
          return
        end
        local code, _, err = h.sh("cd spec/functional/otlp_client && npm install --no-audit --no-fund --loglevel=error")
        assert.equal(0, code, "npm install failed: " .. err)
        for _, variant in ipairs({ { "json", "no" }, { "proto", "no" }, { "proto", "yes" } }) do
          local protocol, gzip = variant[1], variant[2]
          local out
          code, out, err = h.sh("node spec/functional/otlp_client/export.js --url " .. h.q(base .. "/v1/traces") ..
            " --protocol " .. protocol .. " --gzip " .. gzip .. " --tenant tenant-a --service svc-" .. protocol)
          assert.equal(0, code, protocol .. " export failed: " .. err)
          local sent = cjson.decode(out)
          local s = wait_state("/api/state/trace_processing/trace_summary/" .. sent.trace_id, A,
            "the summary of the " .. protocol .. " export", function(st) return st.span_count == sent.span_count end)
          assert.equal(sent.span_count, s.span_count)
          assert.equal(sent.total_duration_ms, s.total_duration_ms)
          assert.equal(sent.start_time_ms, s.start_time_ms)
          assert.equal(sent.has_error, s.has_error)
          assert.same(sent.models, s.models)
          assert.equal(sent.prompt_tokens, s.prompt_tokens)
          assert.equal(sent.completion_tokens, s.completion_tokens)
          assert.equal(sent.service_name, s.service_name)
        end
      end)
    end)
  end)

  describe("with API keys", function()
    it("maps keys to tenants, refuses unknown keys and reloads the file", function()
      local keys = dir .. "/keys"
      write(keys, "key-aaaa-1111 tenant-a\nkey-bbbb-2222 tenant-b\n")
      start("--api-keys " .. h.q(keys))
      local KA = { "Authorization: Bearer key-aaaa-1111", "Content-Type: application/json" }
      -- The key picks the tenant; X-Tenant-Id cannot override it.
      local KB = { "Authorization: Bearer key-bbbb-2222", "X-Tenant-Id: tenant-a" }
      local status, _, headers = curl("POST", base .. "/api/commands/ledger/deposit",
        { headers = { "X-Tenant-Id: tenant-a" }, body = '{"account":"k","amount":1}' })
      assert.equal(401, status)
      assert.truthy(headers:find("WWW-Authenticate: Bearer", 1, true))
      assert.equal(401, (curl("GET", base .. "/api/state/ledger/balance/k",
        { headers = { "Authorization: Bearer key-wrong-0000" } })))
      assert.equal(202, (curl("POST", base .. "/api/commands/ledger/deposit",
        { headers = KA, body = '{"account":"k","amount":1}' })))
      wait_state("/api/state/ledger/balance/k", KA, "tenant a's fold", function(s) return s end)
      assert.equal(404, (curl("GET", base .. "/api/state/ledger/balance/k", { headers = KB })))
      -- Keys are never logged.
      local f = io.open(dir .. "/run.log")
      local log = f:read("*a")
      f:close()
      assert.falsy(log:find("key-aaaa-1111", 1, true))
      -- Revoking a key takes effect without a restart.
      write(keys, "key-bbbb-2222 tenant-b\n")
      h.wait_until("the revoked key to be refused", 10, function()
        return (curl("GET", base .. "/api/state/ledger/balance/k", { headers = KA })) == 401
      end)
    end)

    it("refuses a non-loopback address without keys", function()
      local code, _, err = h.esengine("run --pipelines " .. h.q(pipelines_dir(dir)) .. " --data " ..
        h.q(dir .. "/data") .. " --listen 0.0.0.0:" .. free_port())
      assert.are_not.equal(0, code)
      assert.truthy(err:find("loopback", 1, true), err)
    end)
  end)
end)
