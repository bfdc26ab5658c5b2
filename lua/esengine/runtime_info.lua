-- runtime_info.lua: what the runtime (esengine.runtime) reports about a
-- loaded generation, for the C core: the description of its pipelines
-- (esengine describe, /readyz, pause validation, migrations) and the
-- generation report a running engine writes to its data dir.
local cjson = require("cjson")

local info = {}

-- Its own cjson instance: pipelines cannot change its settings.
local json = cjson.new()

-- The {col = type} a component's es.stores.table declared, or nil.
local function declared_columns(c)
  local cols = c.store_kind ~= "custom" and type(c.store) == "table" and c.store.columns or nil
  return (cols and next(cols)) and cols or nil
end

-- info.summary(gen) -> array (in gen.order) of { name, aggregate_type,
-- commands = {names}, folds = {{name, table, keyed, custom, version}},
-- maps = {{name, table, custom}}, reactors = {{fold, name}}, kill_switch? };
-- folds and maps on es.stores.table also carry columns = {col = type} when
-- declared, and event_types when they filter (nil: every event).
function info.summary(gen)
  local out = {}
  for _, pname in ipairs(gen.order) do
    local p = gen.pipelines[pname]
    local s = { name = p.name, aggregate_type = p.aggregate_type, kill_switch = p.kill_switch,
      commands = {}, folds = {}, maps = {}, reactors = {} }
    for i, c in ipairs(p.command_order) do
      s.commands[i] = c
    end
    for i, fname in ipairs(p.fold_order) do
      local f = p.folds[fname]
      s.folds[i] = { name = fname, table = f.table, keyed = f.key ~= nil, custom = f.store_kind == "custom",
        version = f.version, columns = declared_columns(f), event_types = f.event_types }
    end
    for i, mname in ipairs(p.map_order) do
      local m = p.maps[mname]
      s.maps[i] = { name = mname, table = m.table, custom = m.store_kind == "custom",
        columns = declared_columns(m), event_types = m.event_types }
    end
    for i, rname in ipairs(p.reactor_order) do
      s.reactors[i] = { fold = p.reactors[rname].fold, name = rname }
    end
    out[#out + 1] = s
  end
  return out
end

-- info.reload_status(gen, previous_json, now_ms, err) -> JSON of what a
-- running engine reports about its generation (written to
-- <data>/esengine.status.json on start and on every reload):
-- { generation, updated_at, last_reload = { at, ok, error },
--   pipelines = { name -> { hash, loaded_at, folds = { name -> { version,
--   needs_replay, replay_from_version } } } }, removed = { names }? }.
-- previous_json (or nil) is the last report: a pipeline keeps its loaded_at
-- while its hash is unchanged; a fold whose version differs from the one
-- reported before needs replay, and stays marked until a replay clears it.
-- err (or nil) is why the reload was refused (gen is then the running one).
function info.reload_status(gen, previous_json, now_ms, err)
  local prev = {}
  if previous_json then
    local ok, decoded = pcall(json.decode, previous_json)
    if ok and type(decoded) == "table" and type(decoded.pipelines) == "table" then
      prev = decoded.pipelines
    end
  end
  local out = {
    generation = gen.hash, updated_at = now_ms,
    last_reload = { at = now_ms, ok = err == nil, error = err },
    pipelines = {},
  }
  local removed = {}
  for _, pname in ipairs(gen.order) do
    local p, before = gen.pipelines[pname], prev[pname]
    before = type(before) == "table" and before or {}
    local folds = {}
    for _, fname in ipairs(p.fold_order) do
      local version = p.folds[fname].version
      local old = type(before.folds) == "table" and before.folds[fname] or nil
      local entry = { version = version, needs_replay = false }
      if type(old) == "table" then
        if old.needs_replay then
          entry.needs_replay, entry.replay_from_version = true, old.replay_from_version
        elseif old.version ~= version then
          entry.needs_replay, entry.replay_from_version = true, old.version or "(none)"
        end
      end
      folds[fname] = entry
    end
    out.pipelines[pname] = {
      hash = gen.hashes[pname],
      loaded_at = before.hash == gen.hashes[pname] and before.loaded_at or now_ms,
      folds = folds,
    }
  end
  for pname in pairs(prev) do
    if not gen.pipelines[pname] then
      removed[#removed + 1] = pname
    end
  end
  if #removed > 0 then
    table.sort(removed)
    out.removed = removed
  end
  return json.encode(out)
end

return info
