-- routes.lua: which folds and maps see an event a command handler
-- returns (the runtime's outgoing events, esengine.runtime). A plan per
-- generation, pipeline and event type lists the routes every such event
-- takes and the keyed folds whose key function runs per event.
local core = require("esengine.host")

local routes = {}

-- The route plan of events of type ev_type from pipeline p, made once per
-- generation and type: `fixed`, the routes every such event takes (the
-- unkeyed folds and the maps of p that accept it; the C core keys them by
-- the event's aggregate, so these tables are shared by every event), and
-- `keyed`, the keyed folds of every pipeline that accept it (their key
-- function runs per event).
function routes.plan(gen, p, ev_type)
  local plans = gen.route_plans
  if not plans then
    plans = {}
    gen.route_plans = plans
  end
  local of_p = plans[p]
  if not of_p then
    of_p = {}
    plans[p] = of_p
  end
  local plan = of_p[ev_type]
  if plan then
    return plan
  end
  plan = { fixed = {}, keyed = {} }
  for _, qname in ipairs(gen.order) do
    local q = gen.pipelines[qname]
    for _, fname in ipairs(q.fold_order) do
      local f = q.folds[fname]
      local wanted = not f.accepts or f.accepts[ev_type]
      if f.key and wanted then
        plan.keyed[#plan.keyed + 1] = { pipeline = qname, component = fname, fold = f }
      elseif not f.key and wanted and q == p then
        plan.fixed[#plan.fixed + 1] = { kind = "fold", pipeline = qname, component = fname }
      end
    end
    if q == p then
      for _, mname in ipairs(q.map_order) do
        if q.maps[mname].accepts[ev_type] then
          plan.fixed[#plan.fixed + 1] = { kind = "map", pipeline = qname, component = mname }
        end
      end
    end
  end
  of_p[ev_type] = plan
  return plan
end

-- Routes of one new event: every fold and map that must see it. `seen` is
-- the event as keyed folds' key functions see it; key functions run under
-- xpcall with `traceback`; errors name the event as label(...) does
-- (called on failure only, so no label is built per event).
function routes.of(plan, seen, traceback, label, ...)
  local keyed = plan.keyed
  if #keyed == 0 then
    return plan.fixed
  end
  local routes = {}
  for j, r in ipairs(plan.fixed) do
    routes[j] = r
  end
  for _, k in ipairs(keyed) do
    local f = k.fold
    core.arm(f.timeout_ms or 0)
    local ok, key = xpcall(f.key, traceback, seen)
    if not ok then
      error(label(...) .. ": key of fold " .. k.component .. " in pipeline " .. k.pipeline .. ": " .. key, 0)
    end
    if type(key) == "number" then
      key = string.format("%.14g", key)
    end
    if key ~= nil then
      if type(key) ~= "string" or key == "" then
        error(label(...) .. ": key of fold " .. k.component .. " in pipeline " .. k.pipeline
          .. " must return a non-empty string or nil, got " .. type(key), 0)
      end
      routes[#routes + 1] = { kind = "fold", pipeline = k.pipeline, component = k.component, key = key, keyed = true }
    end
  end
  return routes
end

return routes
