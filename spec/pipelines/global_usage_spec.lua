-- global_usage without the engine: UTC days, fold keys and daily counters.
local h = require("spec.pipelines.helper")

local req = h.use("global_usage")
local day = req("utils.day")
local events = req("schemas.events")
local billable = req("projections.project_daily_billable_events")
local sdk_usage = req("projections.project_daily_sdk_usage")

local DAY1 = 1718000000000 -- 2024-06-10T06:13:20Z
local DAY2 = DAY1 + 86400000

local function span(tenant, at, resource)
  return h.events(tenant, "trace", { { type = events.SPAN_RECEIVED, occurred_at = at,
    data = { resource = { attributes = resource or {} } } } })[1]
end

describe("global_usage", function()
  it("computes UTC days", function()
    assert.equal("1970-01-01", day.utc_day(0))
    assert.equal("1970-01-01", day.utc_day(86399999))
    assert.equal("1970-01-02", day.utc_day(86400000))
    assert.equal("2000-02-29", day.utc_day(951782400000))
    assert.equal("2024-06-10", day.utc_day(DAY1))
    assert.equal("2024-12-31", day.utc_day(1735689599999))
    assert.equal("2025-01-01", day.utc_day(1735689600000))
  end)

  it("keys billable events by tenant and day and counts each type", function()
    assert.equal("acme|2024-06-10", billable.key(span("acme", DAY1)))
    assert.equal("acme|2024-06-11", billable.key(span("acme", DAY2)))
    local evs = h.events("acme", "x", {
      { type = events.SPAN_RECEIVED, occurred_at = DAY1 },
      { type = events.SPAN_RECEIVED, occurred_at = DAY1 + 1 },
      { type = events.EVALUATION_STARTED, occurred_at = DAY1 + 2 },
      { type = events.EXPERIMENT_RUN_STARTED, occurred_at = DAY1 + 3 },
    })
    assert.same({ tenant_id = "acme", day = "2024-06-10", billable_events = 4, spans = 2,
      evaluations_started = 1, experiment_runs_started = 1 }, h.fold(billable, evs))
  end)

  it("keys sdk usage by langwatch.sdk.*, else telemetry.sdk.*, else other", function()
    assert.equal("acme|2024-06-10|langwatch-python|0.2.0|python", sdk_usage.key(span("acme", DAY1, {
      ["langwatch.sdk.name"] = "langwatch-python", ["langwatch.sdk.version"] = "0.2.0",
      ["langwatch.sdk.language"] = "python", ["telemetry.sdk.name"] = "opentelemetry" })))
    assert.equal("acme|2024-06-10|opentelemetry|1.9.0|nodejs", sdk_usage.key(span("acme", DAY1, {
      ["telemetry.sdk.name"] = "opentelemetry", ["telemetry.sdk.version"] = "1.9.0",
      ["telemetry.sdk.language"] = "nodejs" })))
    assert.equal("acme|2024-06-10|other|other|other", sdk_usage.key(span("acme", DAY1)))
    assert.same({ tenant_id = "acme", day = "2024-06-10", sdk_name = "other", sdk_version = "other",
      sdk_language = "other", spans = 2 }, h.fold(sdk_usage, { span("acme", DAY1), span("acme", DAY1 + 5) }))
  end)
end)
