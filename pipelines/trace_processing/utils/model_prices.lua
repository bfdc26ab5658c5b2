-- Model price table (Lua data) and lookup.
--
-- Prices are USD per 1,000,000 tokens (list prices of the providers). A model
-- name is lowercased and matched against `pattern` (a Lua pattern, unanchored,
-- so "openai/gpt-4o-2024-08-06" matches "gpt%-4o"). The first matching row
-- wins, so more specific patterns come first. Edit this file to add models.

local M = {}

M.rows = {
  -- OpenAI
  { pattern = "gpt%-4o%-mini",        input = 0.15,  output = 0.60 },
  { pattern = "gpt%-4o",              input = 2.50,  output = 10.00 },
  { pattern = "gpt%-4%.1%-nano",      input = 0.10,  output = 0.40 },
  { pattern = "gpt%-4%.1%-mini",      input = 0.40,  output = 1.60 },
  { pattern = "gpt%-4%.1",            input = 2.00,  output = 8.00 },
  { pattern = "gpt%-4%-turbo",        input = 10.00, output = 30.00 },
  { pattern = "gpt%-4",               input = 30.00, output = 60.00 },
  { pattern = "gpt%-3%.5%-turbo",     input = 0.50,  output = 1.50 },
  { pattern = "o1%-mini",             input = 1.10,  output = 4.40 },
  { pattern = "o3%-mini",             input = 1.10,  output = 4.40 },
  { pattern = "o4%-mini",             input = 1.10,  output = 4.40 },
  { pattern = "^o1",                  input = 15.00, output = 60.00 },
  { pattern = "^o3",                  input = 2.00,  output = 8.00 },
  { pattern = "text%-embedding%-3%-small", input = 0.02, output = 0 },
  { pattern = "text%-embedding%-3%-large", input = 0.13, output = 0 },
  -- Anthropic
  { pattern = "claude%-3%-5%-haiku",  input = 0.80,  output = 4.00 },
  { pattern = "claude%-3%-haiku",     input = 0.25,  output = 1.25 },
  { pattern = "claude%-.*sonnet",     input = 3.00,  output = 15.00 },
  { pattern = "claude%-.*opus",       input = 15.00, output = 75.00 },
  -- Google
  { pattern = "gemini%-1%.5%-flash",  input = 0.075, output = 0.30 },
  { pattern = "gemini%-1%.5%-pro",    input = 1.25,  output = 5.00 },
  { pattern = "gemini%-2%.0%-flash",  input = 0.10,  output = 0.40 },
  { pattern = "gemini%-2%.5%-flash",  input = 0.30,  output = 2.50 },
  { pattern = "gemini%-2%.5%-pro",    input = 1.25,  output = 10.00 },
  -- Mistral
  { pattern = "mistral%-large",       input = 2.00,  output = 6.00 },
  { pattern = "mistral%-small",       input = 0.20,  output = 0.60 },
}

-- The price row for a model name, or nil when no row matches.
function M.lookup(model)
  if type(model) ~= "string" or model == "" then return nil end
  local name = model:lower()
  for _, row in ipairs(M.rows) do
    if name:find(row.pattern) then return row end
  end
  return nil
end

-- Cost in integer nano-dollars (1e-9 USD) of a call, or nil when the model is
-- unknown. Integers keep trace totals exact and independent of span order.
function M.cost_nanos(model, input_tokens, output_tokens)
  local row = M.lookup(model)
  if not row then return nil end
  -- price per 1M tokens * 1000 = nano-dollars per token
  local nanos = (input_tokens or 0) * row.input * 1000
    + (output_tokens or 0) * row.output * 1000
  return math.floor(nanos + 0.5)
end

return M
