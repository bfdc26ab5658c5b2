/* test_lua_json.c: the core module's JSON codec (engine/lua_json.c)
 * against lua-cjson itself, in a plain LuaJIT state: the same text out of
 * json_encode as cjson.encode, the same values out of json_decode as
 * cjson.decode, and an error wherever cjson raises one; over a corpus of
 * edge cases (escapes, numbers, sparse arrays, nesting, bad input), then
 * over random values and random corruptions of their JSON. */
#include "testlib.h"

#include "lua_json.h"

#include <lauxlib.h>
#include <lualib.h>

/* Lua shared by the tests: `same(a, b)` deep-compares decoded values
 * (NaN equal to NaN); `check_encode(v)` and `check_decode(s)` return nil
 * when ours and cjson's agree, else what differs. */
static const char *const prelude =
    "cjson = require('cjson')\n"
    "local j = cjson.new()\n"
    "function same(a, b)\n"
    "  if type(a) ~= type(b) then return false end\n"
    "  if type(a) == 'number' then\n"
    "    return a == b or (a ~= a and b ~= b) end\n"
    "  if type(a) ~= 'table' then return a == b end\n"
    "  for k, v in pairs(a) do if not same(v, b[k]) then return false end end\n"
    "  for k in pairs(b) do if a[k] == nil then return false end end\n"
    "  return true\n"
    "end\n"
    "function check_encode(v)\n"
    "  local ok1, a = pcall(core.json_encode, v)\n"
    "  local ok2, b = pcall(j.encode, v)\n"
    "  if ok1 ~= ok2 then return 'ours ' .. tostring(a) .. ' cjson ' .. tostring(b) end\n"
    "  if ok1 and a ~= b then return 'ours ' .. a .. ' cjson ' .. b end\n"
    "end\n"
    "function check_decode(s)\n"
    "  local ok1, a = pcall(core.json_decode, s)\n"
    "  local ok2, b = pcall(j.decode, s)\n"
    "  if ok1 ~= ok2 then\n"
    "    return ('%q: ours %s, cjson %s'):format(s, tostring(a), tostring(b)) end\n"
    "  if ok1 and not same(a, b) then return ('%q: different values'):format(s) end\n"
    "end\n";

static lua_State *open_state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_newtable(L);
    lua_json_register(L);
    lua_setglobal(L, "core");
    if (luaL_dostring(L, prelude) != 0) {
        fprintf(stderr, "prelude: %s\n", lua_tostring(L, -1));
        lua_close(L);
        return NULL;
    }
    return L;
}

/* Runs chunk, which returns nil when all agreed, else a message. */
static void check_chunk(const char *chunk)
{
    lua_State *L = open_state();
    CHECK(L != NULL);
    if (!L) return;
    int rc = luaL_dostring(L, chunk);
    if (rc != 0 || !lua_isnil(L, -1))
        fprintf(stderr, "  %s\n", lua_tostring(L, -1) ? lua_tostring(L, -1) : "(not nil)");
    CHECK_INT(rc, 0);
    CHECK(lua_isnil(L, -1));
    lua_close(L);
}

static void test_encode_corpus(void)
{
    check_chunk(
        "local values = {\n"
        "  {}, {1, 2, 3}, {a = 1}, {s = 'a/b\"c\\\\\\1\\127\\128\\233\\n\\t\\b\\f\\r\\0'},\n"
        "  {1, 2, nil, 4}, {[1] = 1, [20] = 2}, {[1] = 1, [10] = 2}, {[1] = 1, x = 2},\n"
        "  {[1.5] = 1}, {[-1] = 1}, {[0] = 1}, {[1e15] = 1},\n"
        "  {0.1, 1e15, 1e14, 99999999999999, -99999999999999, 123456789012345, -0.0, 0,\n"
        "   2^53, 2^63, -2^63, 1/3, 100, -5, 1e-7, 0.5, 1e300, -1e-300, 4.9e-324},\n"
        "  {f = print}, {[true] = 1}, 0/0, 1/0, -1/0, cjson.null, {cjson.null}, true, false,\n"
        "  'plain', '', 42, {a = {b = {c = {1, {d = 'e'}}}}}, {nested = {{}, {{}}}},\n"
        "  {coroutine.create(print)}, {string.rep('x', 100000)},\n"
        "}\n"
        "local deep = {}\n"
        "local t = deep\n"
        "for _ = 1, 999 do t[1] = {}; t = t[1] end\n"
        "values[#values + 1] = deep\n"
        "local deeper = {deep}\n"
        "values[#values + 1] = deeper\n"
        "for i = 1, #values + 1 do\n"
        "  local err = check_encode(values[i])\n"
        "  if err then return i .. ': ' .. err end\n"
        "end\n"
        "if pcall(core.json_encode) then return 'encode of nothing succeeded' end\n");
}

static void test_decode_corpus(void)
{
    check_chunk(
        "local texts = {\n"
        "  '{\"a\":NaN}', '{\"a\":0x10}', '{\"a\":1e400}', '[1,2,', '[1,2', '[1,2]',\n"
        "  '{\"a\":\"\\\\u00e9\\\\ud83d\\\\ude00\"}', '\"\\\\ud83d\"', '\"\\\\ude00\"',\n"
        "  '\"\\\\ud83dx\"', '\"\\\\u12\"', '\"\\\\uZZZZ\"', '\"\\\\q\"', '\"a\\\\\"',\n"
        "  'null', 'true', 'false', 'nul', 'tru', 'nan', 'NaN', '-inf', 'Infinity', '+1',\n"
        "  '  {\"a\" : [ true , false , null ] } ', '{\"a\":1} x', '\"abc', '{\"a\":01}',\n"
        "  '{\"a\":-}', '{\"a\":.5}', '{\"a\":1.}', '{\"a\":\"\\1\"}', '[]', '{}', '',\n"
        "  ' ', '[', '{', '{\"a\"', '{\"a\":', '{\"a\" 1}', '{1:2}', '{\"a\":1,}', '[1,]',\n"
        "  '[,1]', '-0', '0', '-', '123456789012345', '1234567890123456',\n"
        "  '12345678901234567890', '-9007199254740993', '1e5', '1E-5', '3.14159',\n"
        "  '\"\\\\/\\\\b\\\\f\\\\n\\\\r\\\\t\\\\\\\\\\\\\"\"', '\"\\\\u0000\"',\n"
        "  '{\"a\":1,\"a\":2}', '[[[[[]]]]]', '\"x\\0y\"', '1 2', '\\t1\\n',\n"
        "}\n"
        "texts[#texts + 1] = string.rep('[', 1000) .. string.rep(']', 1000)\n"
        "texts[#texts + 1] = string.rep('[', 1001) .. string.rep(']', 1001)\n"
        "texts[#texts + 1] = string.rep('{\"a\":', 1001) .. '1' .. string.rep('}', 1001)\n"
        "for i, s in ipairs(texts) do\n"
        "  local err = check_decode(s)\n"
        "  if err then return i .. ': ' .. err end\n"
        "end\n"
        "if pcall(core.json_decode, {}) then return 'decode of a table succeeded' end\n");
    /* strings read 8 bytes a step: an escape, a quote or the end at every
     * offset of strings up to 40 bytes long */
    check_chunk(
        "for n = 0, 40 do\n"
        "  for at = 0, n do\n"
        "    local a, b = string.rep('a', at), string.rep('b', n - at)\n"
        "    for _, s in ipairs({ '\"' .. a .. '\\\\\"' .. b .. '\"', '\"' .. a .. '\\\\\\\\' .. b .. '\"',\n"
        "                         '[\"' .. a .. '\",\"' .. b .. '\"]', '\"' .. a .. b,\n"
        "                         '\"' .. a .. '\\\\n' .. b .. '\"' }) do\n"
        "      local err = check_decode(s)\n"
        "      if err then return err end\n"
        "    end\n"
        "  end\n"
        "end\n");
}

/* Random values: encoded alike; their JSON decoded alike, whole and with
 * one byte changed, cut or doubled. */
static void test_random_agreement(void)
{
    check_chunk(
        "math.randomseed(20261128)\n"
        "local function rstring()\n"
        "  local n, b = math.random(0, 12), {}\n"
        "  for i = 1, n do\n"
        "    b[i] = string.char(math.random(0, 3) == 0 and math.random(0, 255)\n"
        "                       or math.random(32, 126))\n"
        "  end\n"
        "  return table.concat(b)\n"
        "end\n"
        "local function rnumber()\n"
        "  local k = math.random(1, 6)\n"
        "  if k == 1 then return math.random(-1000, 1000) end\n"
        "  if k == 2 then return math.random() * 10 ^ math.random(-20, 20) end\n"
        "  if k == 3 then return math.random(-2^31, 2^31) * 2^math.random(0, 30) end\n"
        "  if k == 4 then return -math.random() end\n"
        "  if k == 5 then return math.floor(math.random() * 1e15) end\n"
        "  return math.random(0, 9) / 10\n"
        "end\n"
        "local function rvalue(depth)\n"
        "  local k = math.random(1, depth > 3 and 4 or 7)\n"
        "  if k == 1 then return rstring() end\n"
        "  if k == 2 then return rnumber() end\n"
        "  if k == 3 then return math.random(0, 1) == 1 end\n"
        "  if k == 4 then return cjson.null end\n"
        "  local t = {}\n"
        "  if k == 5 then\n"
        "    for i = 1, math.random(0, 6) do t[i] = rvalue(depth + 1) end\n"
        "  else\n"
        "    for _ = 1, math.random(0, 6) do\n"
        "      local key = math.random(0, 4) == 0 and math.random(1, 30) or rstring()\n"
        "      t[key] = rvalue(depth + 1)\n"
        "    end\n"
        "  end\n"
        "  return t\n"
        "end\n"
        "for round = 1, 10000 do\n"
        "  local v = rvalue(0)\n"
        "  local err = check_encode(v)\n"
        "  if err then return 'round ' .. round .. ': ' .. err end\n"
        "  local ok, s = pcall(cjson.encode, v)\n"
        "  if ok then\n"
        "    local at = math.random(1, #s)\n"
        "    local variants = {s, s:sub(1, at - 1) .. string.char(math.random(0, 255)) ..\n"
        "                      s:sub(at + 1), s:sub(1, at), s .. s}\n"
        "    for _, text in ipairs(variants) do\n"
        "      err = check_decode(text)\n"
        "      if err then return 'round ' .. round .. ': ' .. err end\n"
        "    end\n"
        "  end\n"
        "end\n");
}

int main(void)
{
    RUN_TEST(test_encode_corpus);
    RUN_TEST(test_decode_corpus);
    RUN_TEST(test_random_agreement);
    return TEST_EXIT();
}
