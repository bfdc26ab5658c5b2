-- loader.lua: builds a generation of pipelines from a pipelines directory:
-- every subfolder holding pipeline.lua is loaded in its own sandbox
-- (esengine.sandbox), checked against the others (unique names and
-- aggregate types) and hashed, so a generation can be compared and swapped
-- as one unit. A generation is { pipelines = {name -> built pipeline},
-- order = {names, sorted}, dirs = {name -> folder name}, hashes = {name ->
-- content hash of the files it read}, hash = content hash of all of them }.
local core = require("esengine.host")
local sandbox = require("esengine.sandbox")

local loader = {}

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then
    f:close()
    return true
  end
  return false
end

local function hash_files(prefix, files, parts)
  local paths = {}
  for path in pairs(files) do
    paths[#paths + 1] = path
  end
  table.sort(paths)
  for _, path in ipairs(paths) do
    parts[#parts + 1] = prefix .. path .. "\0" .. files[path] .. "\0"
  end
end

local function new_gen()
  return { pipelines = {}, order = {}, dirs = {}, hashes = {}, requires = {}, hash = nil }
end

-- Adds the pipeline in folder <pipelines_dir>/<entry> to gen (raises).
local function add_pipeline(gen, pipelines_dir, entry, all_parts)
  local p, files, require_in_pipeline = sandbox.load(pipelines_dir, entry)
  local main = pipelines_dir .. "/" .. entry .. "/pipeline.lua"
  if gen.pipelines[p.name] then
    error(main .. ": duplicate pipeline name '" .. p.name .. "' (also declared in "
      .. pipelines_dir .. "/" .. gen.dirs[p.name] .. "/pipeline.lua)", 0)
  end
  for other_name, other in pairs(gen.pipelines) do
    if other.aggregate_type == p.aggregate_type then
      error(main .. ": aggregate type '" .. p.aggregate_type .. "' is already used by pipeline '"
        .. other_name .. "' (each pipeline owns its aggregate type)", 0)
    end
  end
  gen.pipelines[p.name] = p
  gen.dirs[p.name] = entry
  gen.requires[p.name] = require_in_pipeline
  gen.order[#gen.order + 1] = p.name
  local parts = {}
  hash_files("", files, parts)
  gen.hashes[p.name] = core.hash(table.concat(parts))
  hash_files(entry .. "/", files, all_parts)
end

local function finish(gen, all_parts)
  table.sort(gen.order)
  gen.hash = core.hash(table.concat(all_parts))
  return gen
end

-- loader.load(pipelines_dir) -> gen with every subfolder holding pipeline.lua.
-- Raises "file:line: message" (or "<dir>/<name>/pipeline.lua: message") on
-- the first failure, including duplicate pipeline names or aggregate types.
function loader.load(pipelines_dir)
  pipelines_dir = pipelines_dir:gsub("/+$", "")
  local entries, err = core.list_dir(pipelines_dir)
  if not entries then
    error(tostring(err or (pipelines_dir .. ": cannot list directory")), 0)
  end
  table.sort(entries)
  local gen, parts = new_gen(), {}
  for _, entry in ipairs(entries) do
    local dir = pipelines_dir .. "/" .. entry
    if entry:sub(1, 1) ~= "." and core.is_dir(dir) and file_exists(dir .. "/pipeline.lua") then
      add_pipeline(gen, pipelines_dir, entry, parts)
    end
  end
  return finish(gen, parts)
end

-- loader.load_one(pipelines_dir, name) -> gen holding only the pipeline in
-- folder <pipelines_dir>/<name>. Raises like rt.load.
function loader.load_one(pipelines_dir, name)
  pipelines_dir = pipelines_dir:gsub("/+$", "")
  local gen, parts = new_gen(), {}
  add_pipeline(gen, pipelines_dir, name, parts)
  return finish(gen, parts)
end

return loader
