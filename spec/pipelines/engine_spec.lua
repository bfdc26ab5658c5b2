-- The shipped pipelines end to end, through esengine.testing (the C core on
-- memory backends with a fixed clock): commands in, drained, fold states and
-- map records read back. Pending when build/esengine_core.so is not built.
local has_core = pcall(require, "esengine_core")
local h = require("spec.pipelines.helper")
local testing = require("esengine.testing")

if not has_core then
  describe("shipped pipelines on the engine", function()
    pending("build/esengine_core.so is not built (cmake --build build)")
  end)
  return
end

local otlp = h.use("trace_processing")("utils.otlp")
local EXPECTED = require("spec.pipelines.fixtures.expected_summaries")

local B = 1718000000000 -- base time (ms) of the fixtures: 2024-06-10T06:13:20Z
local HOUR = 60 * 60 * 1000

local function engine(now)
  return testing.new({ pipelines = h.ROOT .. "pipelines", now = now or (B + 5000), tenant = "acme" })
end

local function send(eng, pipeline, command, payload, tenant)
  local id, err = eng:send(pipeline, command, payload, { tenant = tenant })
  assert(id, err and (err.message or "send failed"))
  return id
end

local function send_fixture(eng, fixture, tenant)
  local payloads = otlp.to_record_span_payloads(h.fixture(fixture))
  for _, p in ipairs(payloads) do send(eng, "trace_processing", "record_span", p, tenant) end
  return payloads
end

describe("shipped pipelines on the engine", function()
  local eng
  after_each(function()
    if eng then eng:close() end
    eng = nil
  end)

  describe("trace_processing", function()
    for fixture, expected in pairs(EXPECTED) do
      it("summarises " .. fixture .. " sent as OTLP, and the same when every span is sent twice", function()
        eng = engine()
        local payloads = send_fixture(eng, fixture)
        eng:drain()
        local state, seq = eng:state("trace_processing", "trace_summary", expected.trace_id)
        assert.same(expected, h.public(state))
        assert.equal(#payloads, seq)

        send_fixture(eng, fixture)
        eng:drain()
        local again, seq2 = eng:state("trace_processing", "trace_summary", expected.trace_id)
        assert.same(state, again)
        assert.equal(#payloads, seq2)
        assert.equal(#payloads, #eng:events("trace", expected.trace_id))
        assert.equal(#payloads, #eng:records("trace_processing", "stored_spans"))
      end)
    end

    it("folds a 13,000-span trace exactly", function()
      eng = engine()
      local trace_id = string.rep("c", 32)
      for i = 1, 13000 do
        send(eng, "trace_processing", "record_span", {
          trace_id = trace_id, span_id = string.format("%016x", i),
          parent_span_id = i > 1 and string.format("%016x", 1) or nil,
          name = "s", kind = "internal", status = { code = "ok" },
          start_time_unix_nano = (B + i) .. "000000", end_time_unix_nano = (B + i + 10) .. "000000",
          start_time_ms = B + i, end_time_ms = B + i + 10,
          attributes = { ["gen_ai.request.model"] = "gpt-4o-mini", ["gen_ai.usage.input_tokens"] = 10,
            ["gen_ai.usage.output_tokens"] = 5 },
        })
      end
      eng:drain()
      local state, seq = eng:state("trace_processing", "trace_summary", trace_id)
      assert.same({ 13000, 13000, 13009, 130000, 65000, 0.0585 }, { state.span_count, seq,
        state.total_duration_ms, state.prompt_tokens, state.completion_tokens, state.total_cost })
    end)

    it("rejects a malformed span payload naming the field", function()
      eng = engine()
      local payloads = otlp.to_record_span_payloads(h.fixture("streaming.json"))
      local bad = payloads[1]
      bad.span_id = "nothex"
      local id, err = eng:send("trace_processing", "record_span", bad)
      assert.is_nil(id)
      assert.truthy(err.message:find("span_id", 1, true))
    end)

    it("applies topic and satisfaction score assignments", function()
      eng = engine()
      send_fixture(eng, "streaming.json")
      local trace_id = EXPECTED["streaming.json"].trace_id
      send(eng, "trace_processing", "assign_topic", { trace_id = trace_id, topic_id = "t1", topic_name = "Stories" })
      send(eng, "trace_processing", "assign_satisfaction_score", { trace_id = trace_id, score = 0.5 })
      eng:drain()
      local state = eng:state("trace_processing", "trace_summary", trace_id)
      assert.equal("t1", state.topic_id)
      assert.equal("Stories", state.topic_name)
      assert.equal(0.5, state.satisfaction_score)
      assert.equal(2, state.span_count)
    end)
  end)

  describe("evaluation_trigger", function()
    local trace_id = EXPECTED["openai_chat.json"].trace_id

    it("runs each configured evaluator once, 30 s after the last span", function()
      eng = engine()
      send_fixture(eng, "openai_chat.json", "demo")
      eng:drain()
      assert.is_nil(eng:state("evaluation_processing", "evaluation_run", trace_id .. ":output_not_empty", "demo"))
      eng:advance(30 * 1000)
      eng:drain()
      local run = eng:state("evaluation_processing", "evaluation_run", trace_id .. ":output_not_empty", "demo")
      assert.same({
        evaluation_id = trace_id .. ":output_not_empty", evaluator_id = "output_not_empty",
        evaluator_type = "length", evaluator_name = "Output is not empty", trace_id = trace_id,
        is_guardrail = false, attempt = 3, status = "processed", passed = true, label = "pass",
        score = 42, details = "length 42",
        scheduled_at = B + 35000, started_at = B + 35000, completed_at = B + 35000,
      }, run)
      local latency = eng:state("evaluation_processing", "evaluation_run", trace_id .. ":fast_enough", "demo")
      assert.equal("processed", latency.status)
      assert.equal(2500, latency.score)
      -- debounced: one execution (three events) per evaluator
      assert.equal(3, #eng:events("evaluation", trace_id .. ":output_not_empty", "demo"))
    end)

    it("still evaluates when a topic is assigned while the job is pending", function()
      eng = engine()
      send_fixture(eng, "openai_chat.json", "demo")
      eng:drain()
      eng:advance(10 * 1000)
      send(eng, "trace_processing", "assign_topic", { trace_id = trace_id, topic_id = "geo" }, "demo")
      eng:drain()
      eng:advance(20 * 1000) -- 30 s after the spans, 20 s after the topic
      eng:drain()
      local run = eng:state("evaluation_processing", "evaluation_run", trace_id .. ":output_not_empty", "demo")
      assert.equal("processed", run.status)
      assert.equal(B + 35000, run.completed_at) -- 30 s after the last span, not after the topic
    end)

    it("skips tenants without evaluators and traces older than one hour", function()
      eng = engine(B + 2 * HOUR)
      send_fixture(eng, "openai_chat.json", "demo")
      send_fixture(eng, "openai_chat.json", "acme")
      eng:drain()
      eng:advance(30 * 1000)
      eng:drain()
      assert.is_nil(eng:state("evaluation_processing", "evaluation_run", trace_id .. ":output_not_empty", "demo"))
      assert.is_nil(eng:state("evaluation_processing", "evaluation_run", trace_id .. ":output_not_empty", "acme"))
    end)
  end)

  describe("evaluation_processing", function()
    it("ends completed when complete_evaluation arrives before start_evaluation", function()
      eng = engine()
      send(eng, "evaluation_processing", "complete_evaluation",
        { evaluation_id = "ev1", status = "processed", score = 0.8, passed = true, label = "good" })
      eng:drain()
      eng:advance(1000)
      send(eng, "evaluation_processing", "start_evaluation",
        { evaluation_id = "ev1", evaluator_id = "judge", evaluator_type = "llm_judge", trace_id = "tr1" })
      eng:drain()
      assert.same({
        evaluation_id = "ev1", evaluator_id = "judge", evaluator_type = "llm_judge", trace_id = "tr1",
        is_guardrail = false, status = "processed", score = 0.8, passed = true, label = "good",
        completed_at = B + 5000, started_at = B + 6000,
      }, eng:state("evaluation_processing", "evaluation_run", "ev1"))
    end)
  end)

  describe("experiment_run_processing", function()
    it("keeps counters exact when every command is delivered twice", function()
      eng = engine()
      local commands = {
        { "start_experiment_run", { run_id = "r1", experiment_id = "x", total = 2, targets = { { id = "a" } } } },
        { "record_target_result", { run_id = "r1", index = 0, target_id = "a", cost = 0.25, duration_ms = 100 } },
        { "record_target_result", { run_id = "r1", index = 1, target_id = "a", error = "boom", duration_ms = 5 } },
        { "record_evaluator_result", { run_id = "r1", index = 0, target_id = "a", evaluator_id = "e",
          status = "processed", score = 0.5, passed = true } },
        { "record_evaluator_result", { run_id = "r1", index = 1, target_id = "a", evaluator_id = "e",
          status = "processed", score = 0, passed = false } },
        { "complete_experiment_run", { run_id = "r1" } },
      }
      for round = 1, 2 do
        for i, c in ipairs(commands) do
          assert(eng:send("experiment_run_processing", c[1], c[2], { job_id = "cmd-" .. i }))
          if round == 2 then -- again as a new job: the idempotency keys hold
            send(eng, "experiment_run_processing", c[1], c[2])
          end
          if i % 2 == 0 then eng:drain() end
        end
        eng:drain()
      end
      local state, seq = eng:state("experiment_run_processing", "experiment_run", "r1")
      assert.equal(6, seq)
      assert.same({ 2, 2, 1, 1 }, { state.total, state.progress, state.completed_count, state.failed_count })
      assert.same({ 0.25, 105, 0.25, 0.5 },
        { state.total_cost, state.total_duration_ms, state.average_score, state.pass_rate })
      assert.equal("finished", state.status)
      assert.equal(2, state.per_target.a.progress)
      assert.equal(4, #eng:records("experiment_run_processing", "experiment_run_items"))
    end)
  end)

  describe("simulation_processing", function()
    it("drives a run through its lifecycle", function()
      eng = engine()
      send(eng, "simulation_processing", "start_run",
        { scenario_run_id = "s1", scenario_id = "sc", batch_run_id = "b", name = "refund" })
      eng:drain()
      assert.equal("pending", eng:state("simulation_processing", "simulation_run", "s1").status)
      eng:advance(1000)
      send(eng, "simulation_processing", "message_snapshot", { scenario_run_id = "s1",
        messages = { { role = "user", content = "hi", trace_id = "t9" } } })
      eng:drain()
      assert.equal("in_progress", eng:state("simulation_processing", "simulation_run", "s1").status)
      eng:advance(2000)
      send(eng, "simulation_processing", "finish_run", { scenario_run_id = "s1", verdict = "failure",
        reasoning = "no refund", met_criteria = {}, unmet_criteria = { "refunds" } })
      send(eng, "simulation_processing", "delete_run", { scenario_run_id = "s1" })
      eng:drain()
      local state = eng:state("simulation_processing", "simulation_run", "s1")
      assert.same({ "failure", "failure", 3000, { "t9" }, B + 8000 },
        { state.status, state.verdict, state.duration_ms, state.trace_ids, state.deleted_at })
    end)
  end)

  describe("global_usage", function()
    it("counts events per tenant and UTC day, and spans per SDK", function()
      eng = engine()
      send_fixture(eng, "openai_chat.json", "acme") -- 3 spans, 2024-06-10
      send_fixture(eng, "langchain_nested.json", "acme") -- 5 spans, 2024-06-10
      send_fixture(eng, "streaming.json", "globex") -- 2 spans, 2024-06-10
      local late = otlp.to_record_span_payloads(h.fixture("errored.json"))
      for _, p in ipairs(late) do -- 4 spans moved to 2024-06-11
        p.start_time_ms, p.end_time_ms = p.start_time_ms + 24 * HOUR, p.end_time_ms + 24 * HOUR
        send(eng, "trace_processing", "record_span", p, "acme")
      end
      send(eng, "experiment_run_processing", "start_experiment_run",
        { run_id = "r1", experiment_id = "x", total = 1 }, "acme") -- occurred now: 2024-06-10
      send(eng, "evaluation_processing", "start_evaluation", { evaluation_id = "e1" }, "acme")
      eng:drain()
      send_fixture(eng, "openai_chat.json", "acme") -- redelivered spans count once
      eng:drain()

      local function billable(tenant, day)
        return eng:state("global_usage", "project_daily_billable_events", tenant .. "|" .. day, tenant)
      end
      assert.same({ tenant_id = "acme", day = "2024-06-10", billable_events = 10, spans = 8,
        evaluations_started = 1, experiment_runs_started = 1 }, billable("acme", "2024-06-10"))
      assert.same({ tenant_id = "acme", day = "2024-06-11", billable_events = 4, spans = 4,
        evaluations_started = 0, experiment_runs_started = 0 }, billable("acme", "2024-06-11"))
      assert.same({ tenant_id = "globex", day = "2024-06-10", billable_events = 2, spans = 2,
        evaluations_started = 0, experiment_runs_started = 0 }, billable("globex", "2024-06-10"))
      assert.is_nil(billable("globex", "2024-06-11"))

      local function sdk(tenant, key)
        local state = eng:state("global_usage", "project_daily_sdk_usage", tenant .. "|" .. key, tenant)
        return state and state.spans
      end
      assert.equal(3, sdk("acme", "2024-06-10|opentelemetry|1.27.0|python"))
      assert.equal(5, sdk("acme", "2024-06-10|langwatch-python|0.2.0|python"))
      assert.equal(4, sdk("acme", "2024-06-11|other|other|other"))
      assert.equal(2, sdk("globex", "2024-06-10|opentelemetry|1.9.0|nodejs"))
    end)
  end)
end)
