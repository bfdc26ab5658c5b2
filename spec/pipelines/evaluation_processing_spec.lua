-- evaluation_processing without the engine: built-in evaluators, the
-- execute_evaluation handler and the evaluation_run fold lifecycle
-- (including completed-before-started and re-triggered runs).
local h = require("spec.pipelines.helper")

local req = h.use("evaluation_processing")
local evaluators = req("utils.evaluators")
local events = req("schemas.events")
local execute = req("commands.execute_evaluation")
local evaluation_run = req("projections.evaluation_run")

local TRACE = { input = "Capital of France?", output = "Paris.", total_duration_ms = 2500 }

-- Events as the engine would store them from a handler's es.event list.
local function stored(list, first_at)
  local specs = {}
  for i, e in ipairs(list) do
    specs[i] = { type = e.type, data = e.data, occurred_at = e.occurred_at or (first_at + i - 1),
      idempotency_key = e.idempotency_key }
  end
  return specs
end

describe("evaluation_processing", function()
  describe("utils.evaluators", function()
    it("exact_match compares a trace field", function()
      assert.same({ status = "processed", passed = true, score = 1, label = "pass", details = "exact match" },
        evaluators.run("exact_match", { value = "Paris." }, TRACE))
      assert.same({ status = "processed", passed = false, score = 0, label = "fail",
        details = "differs from expected value" },
        evaluators.run("exact_match", { field = "input", value = "Paris." }, TRACE))
    end)

    it("regex uses Lua patterns and reports bad ones as errors", function()
      assert.is_true(evaluators.run("regex", { pattern = "^Par" }, TRACE).passed)
      assert.is_false(evaluators.run("regex", { pattern = "Rome" }, TRACE).passed)
      local bad = evaluators.run("regex", { pattern = "[" }, TRACE)
      assert.equal("error", bad.status)
      assert.truthy(bad.error:find("^regex: "))
    end)

    it("length and latency check thresholds", function()
      assert.same({ status = "processed", passed = true, score = 6, label = "pass", details = "length 6" },
        evaluators.run("length", { min = 1, max = 10 }, TRACE))
      assert.is_false(evaluators.run("length", { max = 3 }, TRACE).passed)
      assert.same({ status = "processed", passed = false, score = 2500, label = "fail",
        details = "duration 2500 ms, limit 1000 ms" },
        evaluators.run("latency", { max_ms = 1000 }, TRACE))
      assert.is_true(evaluators.run("latency", { max_ms = 2500 }, TRACE).passed)
    end)

    it("skips when the field is missing and errors on an unknown type", function()
      assert.same({ status = "skipped", details = "trace has no output" },
        evaluators.run("length", { min = 1 }, {}))
      assert.same({ status = "skipped", details = "trace has no duration" },
        evaluators.run("latency", { max_ms = 1 }, {}))
      assert.same({ status = "error", error = "unknown evaluator type 'llm_judge'" },
        evaluators.run("llm_judge", {}, TRACE))
    end)
  end)

  describe("execute_evaluation", function()
    it("emits scheduled, started, completed with attempt-scoped idempotency keys", function()
      local out = execute.handle({ tenant_id = "t1", data = {
        evaluation_id = "tr1:len", evaluator_id = "len", evaluator_type = "length",
        evaluator_name = "Length", trace_id = "tr1", settings = { min = 1 }, trigger_seq = 7, trace = TRACE,
      } })
      assert.same({ events.SCHEDULED, events.STARTED, events.COMPLETED },
        { out[1].type, out[2].type, out[3].type })
      assert.same({ "tr1:len:7:scheduled", "tr1:len:7:started", "tr1:len:7:completed" },
        { out[1].idempotency_key, out[2].idempotency_key, out[3].idempotency_key })
      assert.same({ evaluation_id = "tr1:len", attempt = 7, status = "processed", score = 6,
        passed = true, label = "pass", details = "length 6" }, out[3].data)
    end)
  end)

  describe("evaluation_run fold", function()
    local function run(specs) return h.fold(evaluation_run, h.events("t1", "tr1:len", specs)) end

    it("follows scheduled -> in_progress -> processed", function()
      local out = execute.handle({ tenant_id = "t1", data = {
        evaluation_id = "tr1:len", evaluator_id = "len", evaluator_type = "length",
        evaluator_name = "Length", trace_id = "tr1", settings = { min = 1 }, trigger_seq = 7, trace = TRACE,
      } })
      assert.same({
        evaluation_id = "tr1:len", evaluator_id = "len", evaluator_type = "length",
        evaluator_name = "Length", trace_id = "tr1", is_guardrail = false, attempt = 7,
        status = "processed", score = 6, passed = true, label = "pass", details = "length 6",
        scheduled_at = 100, started_at = 101, completed_at = 102,
      }, run(stored(out, 100)))
    end)

    it("ends processed when completed arrives before started", function()
      assert.same({
        evaluation_id = "e1", evaluator_id = "judge", trace_id = "tr9", is_guardrail = true,
        status = "processed", score = 0.9, passed = true,
        started_at = 20, completed_at = 10,
      }, run({
        { type = events.COMPLETED, occurred_at = 10,
          data = { evaluation_id = "e1", status = "processed", score = 0.9, passed = true } },
        { type = events.STARTED, occurred_at = 20,
          data = { evaluation_id = "e1", evaluator_id = "judge", trace_id = "tr9", is_guardrail = true } },
      }))
    end)

    it("a later attempt re-runs the evaluation; an older attempt's events are ignored", function()
      local state = run({
        { type = events.SCHEDULED, occurred_at = 1, data = { evaluation_id = "e", attempt = 3 } },
        { type = events.COMPLETED, occurred_at = 2, data = { evaluation_id = "e", attempt = 3,
          status = "processed", passed = false, score = 0 } },
        { type = events.SCHEDULED, occurred_at = 3, data = { evaluation_id = "e", attempt = 5 } },
        { type = events.COMPLETED, occurred_at = 4, data = { evaluation_id = "e", attempt = 3,
          status = "error", error = "stale" } },
      })
      assert.same({ evaluation_id = "e", is_guardrail = false, attempt = 5, status = "scheduled",
        scheduled_at = 3 }, state)
    end)

    it("records errors and skips as final statuses", function()
      assert.equal("error", run({
        { type = events.STARTED, occurred_at = 1, data = { evaluation_id = "e" } },
        { type = events.COMPLETED, occurred_at = 2, data = { evaluation_id = "e", status = "error", error = "boom" } },
      }).status)
      assert.equal("skipped", run({
        { type = events.COMPLETED, occurred_at = 2, data = { evaluation_id = "e", status = "skipped" } },
      }).status)
    end)
  end)
end)
