-- trace_processing without the engine: OTLP conversion, the trace_summary
-- fold (every field against hand-computed values, in any arrival order, and
-- at 13,000 spans), stored_spans, the model price table, and which
-- evaluations a span triggers.
local h = require("spec.pipelines.helper")
local cjson = require("cjson")

local req = h.use("trace_processing")
local otlp = req("utils.otlp")
local prices = req("utils.model_prices")
local events = req("schemas.events")
local commands = req("schemas.commands")
local trace_summary = req("projections.trace_summary")
local stored_spans = req("projections.stored_spans")
local requests = req("utils.evaluation_requests")

local B = 1718000000000 -- base time (ms) of every fixture

local function payloads_of(fixture)
  local payloads, rejected = otlp.to_record_span_payloads(h.fixture(fixture))
  return payloads, rejected
end

-- span_received events of a fixture, as the record_span handler emits them
local function span_events(payloads)
  local specs = {}
  for i, p in ipairs(payloads) do
    specs[i] = { type = events.SPAN_RECEIVED, data = p, occurred_at = p.end_time_ms }
  end
  return h.events("t1", payloads[1].trace_id, specs)
end

local function summary_of(fixture, order)
  local evs = span_events((payloads_of(fixture)))
  if order then evs = order(evs) end
  return h.fold(trace_summary, evs)
end

local public = h.public

local function reversed(list)
  local out = {}
  for i = #list, 1, -1 do out[#out + 1] = list[i] end
  return out
end

-- Every fixture's summary, every field, computed by hand from the fixture.
local EXPECTED = require("spec.pipelines.fixtures.expected_summaries")

describe("trace_processing", function()
  describe("utils.otlp", function()
    it("converts an OpenAI-style request into one payload per span", function()
      local payloads, rejected = payloads_of("openai_chat.json")
      assert.same({}, rejected)
      assert.equal(3, #payloads)
      local llm = payloads[2]
      assert.equal("5b8aa5a2d2c872e8321cf37308d69df2", llm.trace_id)
      assert.equal("5fb397be34d26b51", llm.span_id)
      assert.equal("051581bf3cb55c13", llm.parent_span_id)
      assert.is_nil(payloads[1].parent_span_id)
      assert.equal("client", llm.kind)
      assert.equal("server", payloads[1].kind)
      assert.equal("1718000000100000000", llm.start_time_unix_nano)
      assert.equal("1718000001300500000", llm.end_time_unix_nano)
      assert.equal(B + 100, llm.start_time_ms)
      assert.equal(B + 1300, llm.end_time_ms)
      assert.same({ code = "ok" }, llm.status)
      assert.same({ code = "ok" }, payloads[3].status) -- enum name form
      assert.same({ code = "unset" }, payloads[1].status)
      assert.equal(120, llm.attributes["gen_ai.usage.input_tokens"]) -- intValue as string
      assert.equal(45, llm.attributes["gen_ai.usage.output_tokens"]) -- intValue as number
      assert.equal(0.7, llm.attributes["gen_ai.request.temperature"])
      assert.equal(false, llm.attributes["gen_ai.request.stream"])
      assert.same({ "prod", "chat" }, payloads[1].attributes["langwatch.labels"])
      assert.equal("chat-api", llm.resource.attributes["service.name"])
      assert.same({ name = "opentelemetry.instrumentation.openai", version = "0.30.0" }, llm.scope)
      assert.is_nil(llm.events)
      assert.is_nil(llm.links)
    end)

    it("every payload passes the record_span schema", function()
      for fixture in pairs(EXPECTED) do
        for _, p in ipairs((payloads_of(fixture))) do
          local ok, errs = commands.record_span:validate(h.roundtrip(p))
          assert.is_true(ok, fixture .. ": " .. cjson.encode(errs or {}))
        end
      end
    end)

    it("reports invalid spans with their path and reason", function()
      local payloads, rejected = payloads_of("errored.json")
      assert.equal(4, #payloads)
      assert.same({
        { path = "resourceSpans[0].scopeSpans[0].spans[4]", trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
          span_id = "xyz", reason = "spanId: expected 16 hex chars, not all zero" },
        { path = "resourceSpans[0].scopeSpans[0].spans[5]", trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
          span_id = "5555555555555555", reason = "endTimeUnixNano: missing" },
      }, rejected)
    end)

    it("keeps span events with nano and ms times", function()
      local payloads = payloads_of("streaming.json")
      assert.same({
        { name = "gen_ai.content.chunk", time_unix_nano = "1718000000900000000", time_ms = B + 900, attributes = {} },
        { name = "gen_ai.content.chunk", time_unix_nano = "1718000000450000000", time_ms = B + 450, attributes = {} },
      }, payloads[1].events)
    end)

    it("accepts numeric nano timestamps and upper-case hex ids", function()
      local payloads = payloads_of("reverse_order.json")
      assert.equal(4, #payloads)
      local root = payloads[4]
      assert.equal("1718000000000000000", root.start_time_unix_nano)
      -- a JSON number above 2^53 is rounded by the decoder (~256 ns here);
      -- the ms value is exact
      assert.equal("1718000001000250", root.end_time_unix_nano:sub(1, 16))
      assert.equal(B + 1000, root.end_time_ms)
      assert.equal("ffe0d1c2b3a49586778695a4b3c2d1e0", root.trace_id) -- was upper-case
    end)

    it("accepts base64 ids and legacy instrumentationLibrarySpans", function()
      local payloads, rejected = otlp.to_record_span_payloads({ resourceSpans = { {
        instrumentationLibrarySpans = { { instrumentationLibrary = { name = "old" }, spans = { {
          traceId = "W4qlotLIcugyHPNzCNad8g==", spanId = "BRWBvzy1XBM=", name = "x",
          startTimeUnixNano = "1", endTimeUnixNano = 2, kvlist = true,
          attributes = { { key = "kv", value = { kvlistValue = { values = {
            { key = "a", value = { intValue = "3" } } } } } },
            { key = "empty", value = {} } },
        } } } },
      } } })
      assert.same({}, rejected)
      assert.equal("5b8aa5a2d2c872e8321cf37308d69df2", payloads[1].trace_id)
      assert.equal("051581bf3cb55c13", payloads[1].span_id)
      assert.equal(0, payloads[1].start_time_ms)
      assert.same({ kv = { a = 3 } }, payloads[1].attributes)
      assert.same({ name = "old" }, payloads[1].scope)
    end)

    it("rejects bad ids, times and names, naming the reason", function()
      local function reason(span)
        local base = { traceId = string.rep("a", 32), spanId = string.rep("b", 16), name = "n",
          startTimeUnixNano = "10", endTimeUnixNano = "20" }
        for k, v in pairs(span) do base[k] = v end
        if span.name == false then base.name = nil end
        local _, rejected = otlp.to_record_span_payloads({ resourceSpans = { { scopeSpans = { { spans = { base } } } } } })
        return rejected[1] and rejected[1].reason
      end
      assert.is_nil(reason({}))
      assert.equal("traceId: expected 32 hex chars, not all zero", reason({ traceId = string.rep("0", 32) }))
      assert.equal("traceId: expected 32 hex chars, not all zero", reason({ traceId = "abc" }))
      assert.equal("parentSpanId: expected 16 hex chars", reason({ parentSpanId = "12" }))
      assert.equal("name: missing", reason({ name = false }))
      assert.equal("startTimeUnixNano: expected a non-negative integer", reason({ startTimeUnixNano = "-5" }))
      assert.equal("endTimeUnixNano: before startTimeUnixNano", reason({ endTimeUnixNano = "9" }))
      local _, rejected = otlp.to_record_span_payloads("nope")
      assert.same({ { path = "", reason = "request: expected an object" } }, rejected)
    end)
  end)

  describe("stored_spans map", function()
    it("maps a span to one record with ids, times, status and attributes", function()
      local payloads = payloads_of("errored.json")
      local ev = span_events(payloads)[2]
      assert.same({
        event_id = ev.id, tenant_id = "t1",
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736", span_id = "2222222222222222",
        parent_span_id = "1111111111111111", name = "tool.search", kind = "unspecified",
        start_time_ms = B + 100, end_time_ms = B + 400, duration_ms = 300,
        start_time_unix_nano = "1718000000100000000", end_time_unix_nano = "1718000000400000000",
        status_code = "error", attributes = {},
        events = { { name = "exception", time_unix_nano = "1718000000390000000", time_ms = B + 390,
          attributes = { ["exception.type"] = "RateLimitError", ["exception.message"] = "Rate limit exceeded" } } },
        resource_attributes = { ["service.name"] = "agent" }, scope_name = "manual",
      }, stored_spans.map(ev))
    end)
  end)

  describe("utils.evaluation_requests", function()
    local CONFIG = { default = {}, tenants = { t1 = {
      { id = "len", type = "length", name = "Length", settings = { min = 1 } },
      { id = "fast", type = "latency", guardrail = true, settings = { max_ms = 100 } },
    } } }

    local function span_event(tenant, created_at)
      return { type = events.SPAN_RECEIVED, tenant_id = tenant, aggregate_id = "tr1", seq = 4,
        occurred_at = B + 2500, created_at = created_at }
    end
    local SUMMARY = { end_time_ms = B + 2500, output = "Paris.", total_duration_ms = 2500, span_count = 3 }

    it("requests one execute_evaluation per configured evaluator", function()
      local out, reason = requests.requests(CONFIG, span_event("t1", B + 3000), SUMMARY)
      assert.is_nil(reason)
      assert.same({
        { evaluation_id = "tr1:len", evaluator_id = "len", evaluator_type = "length", evaluator_name = "Length",
          is_guardrail = false, settings = { min = 1 }, trace_id = "tr1", trigger_seq = 4,
          trace = { output = "Paris.", total_duration_ms = 2500, span_count = 3, end_time_ms = B + 2500 } },
        { evaluation_id = "tr1:fast", evaluator_id = "fast", evaluator_type = "latency",
          is_guardrail = true, settings = { max_ms = 100 }, trace_id = "tr1", trigger_seq = 4,
          trace = { output = "Paris.", total_duration_ms = 2500, span_count = 3, end_time_ms = B + 2500 } },
      }, out)
    end)

    it("skips other tenants, other events and traces older than one hour", function()
      assert.same({ {}, "no evaluators for tenant" }, { requests.requests(CONFIG, span_event("t2", B), SUMMARY) })
      local topic = span_event("t1", B)
      topic.type = events.TOPIC_ASSIGNED
      assert.same({ {}, "not a span" }, { requests.requests(CONFIG, topic, SUMMARY) })
      local hour = 60 * 60 * 1000
      assert.equal(2, #requests.requests(CONFIG, span_event("t1", B + 2500 + hour), SUMMARY))
      assert.same({ {}, "trace older than one hour" },
        { requests.requests(CONFIG, span_event("t1", B + 2501 + hour), SUMMARY) })
    end)
  end)

  describe("utils.model_prices", function()
    it("matches model names by pattern, most specific first", function()
      assert.equal(0.15, prices.lookup("gpt-4o-mini-2024-07-18").input)
      assert.equal(2.50, prices.lookup("openai/GPT-4o").input)
      assert.equal(30.00, prices.lookup("gpt-4-0613").input)
      assert.equal(3.00, prices.lookup("claude-3-5-sonnet-20241022").input)
      assert.is_nil(prices.lookup("my-own-model"))
      assert.equal(45000, prices.cost_nanos("gpt-4o-mini", 120, 45))
      assert.is_nil(prices.cost_nanos("unknown", 1, 1))
    end)
  end)

  describe("trace_summary fold", function()
    for fixture, expected in pairs(EXPECTED) do
      it("summarises " .. fixture .. " field by field", function()
        assert.same(expected, public(summary_of(fixture)))
      end)

      it("summarises " .. fixture .. " the same in any arrival order", function()
        local want = summary_of(fixture)
        assert.same(want, summary_of(fixture, reversed))
        for seed = 1, 5 do
          assert.same(want, summary_of(fixture, function(evs) return h.shuffle(evs, seed) end))
        end
      end)
    end

    it("applies topic and satisfaction assignments, the latest winning", function()
      local state = h.fold(trace_summary, h.events("t1", "tr", {
        { type = events.TOPIC_ASSIGNED, occurred_at = 5, data = { topic_id = "a", topic_name = "A" } },
        { type = events.TOPIC_ASSIGNED, occurred_at = 7,
          data = { topic_id = "b", topic_name = "B", subtopic_id = "b1", subtopic_name = "B one" } },
        { type = events.SATISFACTION_SCORE_ASSIGNED, occurred_at = 6, data = { score = -0.5 } },
      }))
      assert.same({ span_count = 0, models = {}, has_error = false, has_ok_status = false,
        topic_id = "b", topic_name = "B", subtopic_id = "b1", subtopic_name = "B one",
        satisfaction_score = -0.5, first_event_at = 5, last_event_at = 7 }, public(state))
    end)

    it("folds a 13,000-span trace in linear time", function()
      local n, specs = 13000, {}
      for i = 1, n do
        specs[i] = { type = events.SPAN_RECEIVED, occurred_at = B + i + 10, data = {
          trace_id = string.rep("c", 32), span_id = string.format("%016x", i),
          parent_span_id = i > 1 and string.format("%016x", 1) or nil,
          name = "s", kind = "internal", status = { code = "ok" },
          start_time_ms = B + i, end_time_ms = B + i + 10,
          attributes = { ["gen_ai.request.model"] = "gpt-4o-mini", ["gen_ai.usage.input_tokens"] = 10,
            ["gen_ai.usage.output_tokens"] = 5, ["input.value"] = "q" .. i, ["output.value"] = "a" .. i },
          resource = { attributes = { ["service.name"] = "big" } },
        } }
      end
      local evs = h.shuffle(h.events("t1", string.rep("c", 32), specs), 42)
      local t0 = os.clock()
      local state = trace_summary.init()
      for _, ev in ipairs(evs) do state = trace_summary.apply(state, ev) end
      local elapsed = os.clock() - t0
      assert.is_true(elapsed < 1, "13,000 spans took " .. elapsed .. " s")
      assert.equal(n, state.span_count)
      assert.equal(B + 1, state.start_time_ms)
      assert.equal(n + 9, state.total_duration_ms)
      assert.equal(10 * n, state.prompt_tokens)
      assert.equal(5 * n, state.completion_tokens)
      assert.equal(0.0585, state.total_cost) -- 13000 * (10 * 0.15 + 5 * 0.60) / 1e6
      assert.equal("q1", state.input) -- the root span's
      assert.equal("a1", state.output)
    end)
  end)
end)
