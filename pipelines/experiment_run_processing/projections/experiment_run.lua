-- Fold `experiment_run` (table experiment_runs): progress and aggregates of
-- one experiment run, overall and per target.
--
--   progress         target results recorded (completed_count + failed_count)
--   completed_count  target results without error; failed_count with error
--   total_cost       target + evaluator costs (USD, rounded to 6 decimals)
--   total_duration_ms  sum of target durations
--   average_score    mean score of processed evaluator results with a score
--   pass_rate        passed / evaluator results that report passed
--   per_target       target_id -> the same counters for that target
--   status           running -> finished | stopped
-- Times are integer ms (event occurred_at). Counters are exact under
-- redelivery because the engine applies each event once (last-applied seq)
-- and the commands' idempotency keys store each result once.

local es = require("esengine")
local events = require("schemas.events")

local function round6(x) return math.floor(x * 1e6 + 0.5) / 1e6 end

local function counters(target_id, name)
  return {
    target_id = target_id, name = name,
    progress = 0, completed_count = 0, failed_count = 0,
    total_cost = 0, total_duration_ms = 0,
    score_sum = 0, score_count = 0, passed_count = 0, pass_total = 0,
  }
end

local function add_target_result(c, d)
  c.progress = c.progress + 1
  if d.error ~= nil then c.failed_count = c.failed_count + 1
  else c.completed_count = c.completed_count + 1 end
  c.total_cost = round6(c.total_cost + (d.cost or 0))
  c.total_duration_ms = c.total_duration_ms + (d.duration_ms or 0)
end

local function add_evaluator_result(c, d)
  c.total_cost = round6(c.total_cost + (d.cost or 0))
  if d.status == "processed" and d.score ~= nil then
    c.score_sum = c.score_sum + d.score
    c.score_count = c.score_count + 1
    c.average_score = round6(c.score_sum / c.score_count)
  end
  if d.passed ~= nil then
    c.pass_total = c.pass_total + 1
    if d.passed then c.passed_count = c.passed_count + 1 end
    c.pass_rate = round6(c.passed_count / c.pass_total)
  end
end

local function target(state, target_id)
  local t = state.per_target[target_id]
  if not t then
    t = counters(target_id)
    state.per_target[target_id] = t
  end
  return t
end

local function apply(state, event)
  local d = event.data or {}
  local at = event.occurred_at
  state.run_id = state.run_id or d.run_id
  if event.type == events.STARTED then
    state.experiment_id, state.name, state.total = d.experiment_id, d.name, d.total
    state.targets = d.targets or {}
    for _, t in ipairs(state.targets) do target(state, t.id).name = t.name end
    state.started_at = at
  elseif event.type == events.TARGET_RESULT_RECORDED then
    add_target_result(state, d)
    add_target_result(target(state, d.target_id), d)
  elseif event.type == events.EVALUATOR_RESULT_RECORDED then
    add_evaluator_result(state, d)
    add_evaluator_result(target(state, d.target_id), d)
  elseif event.type == events.COMPLETED then
    if d.stopped then
      state.status, state.stopped_at = "stopped", at
    else
      state.status, state.finished_at = "finished", at
    end
  end
  return state
end

return {
  version = "2025-06-01",
  event_types = { events.STARTED, events.TARGET_RESULT_RECORDED,
    events.EVALUATOR_RESULT_RECORDED, events.COMPLETED },
  init = function()
    local state = counters()
    state.total, state.status, state.per_target = 0, "running", {}
    return state
  end,
  apply = apply,
  store = es.stores.table("experiment_runs"),
}
