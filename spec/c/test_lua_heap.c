/* test_lua_heap.c: a Lua state's memory (engine/lua_heap.c): small blocks
 * reused from their size class, contents kept across every kind of resize
 * (small to small, small to large, large to small, large to large), and
 * a real Lua state running on it through allocation-heavy code. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <string.h>

#include "lua_heap.h"
#include "testlib.h"

/* Fills n bytes at p with a pattern of seed; checks it. */
static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed + i * 7);
}

static int holds(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 7)) return 0;
    return 1;
}

static void test_small_blocks_are_reused_by_class(void)
{
    lua_heap heap = {0};
    void *a = lua_heap_realloc(&heap, NULL, 0, 40);
    void *b = lua_heap_realloc(&heap, NULL, 0, 40);
    CHECK(a && b && a != b);
    CHECK_INT((int)((uintptr_t)a % 16), 0);
    CHECK_INT((int)((uintptr_t)b % 16), 0);
    CHECK(lua_heap_realloc(&heap, a, 40, 0) == NULL);
    /* the same class (33..48 bytes) takes the freed block back */
    CHECK(lua_heap_realloc(&heap, NULL, 0, 48) == a);
    /* another class does not */
    void *c = lua_heap_realloc(&heap, NULL, 0, 16);
    CHECK(c != a && c != b);
    /* a resize within the class keeps the block */
    CHECK(lua_heap_realloc(&heap, b, 40, 36) == b);
    /* many blocks: past one chunk, all distinct and writable */
    enum { N = 5000 };
    static unsigned char *blocks[N];
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i % LUA_HEAP_SMALL) + 1;
        blocks[i] = lua_heap_realloc(&heap, NULL, 0, n);
        CHECK(blocks[i] != NULL);
        fill(blocks[i], n, (unsigned)i);
    }
    int intact = 1;
    for (int i = 0; i < N; i++) intact &= holds(blocks[i], (size_t)(i % LUA_HEAP_SMALL) + 1, (unsigned)i);
    CHECK(intact);
    lua_heap_release(&heap);
    CHECK(heap.chunks == NULL);
}

static void test_resizes_keep_contents(void)
{
    lua_heap heap = {0};
    /* small -> small of another class -> large -> larger -> small */
    unsigned char *p = lua_heap_realloc(&heap, NULL, 0, 20);
    fill(p, 20, 3);
    p = lua_heap_realloc(&heap, p, 20, 200);
    CHECK(holds(p, 20, 3));
    fill(p, 200, 5);
    p = lua_heap_realloc(&heap, p, 200, 4000);
    CHECK(holds(p, 200, 5));
    fill(p, 4000, 9);
    p = lua_heap_realloc(&heap, p, 4000, 100000);
    CHECK(holds(p, 4000, 9));
    p = lua_heap_realloc(&heap, p, 100000, LUA_HEAP_SMALL);
    CHECK(holds(p, LUA_HEAP_SMALL, 9));
    p = lua_heap_realloc(&heap, p, LUA_HEAP_SMALL, 64);
    CHECK(holds(p, 64, 9));
    CHECK(lua_heap_realloc(&heap, p, 64, 0) == NULL);
    /* a large block freed goes back to the system (ASan would see a leak) */
    void *big = lua_heap_realloc(&heap, NULL, 0, LUA_HEAP_SMALL + 1);
    CHECK(big != NULL);
    CHECK(lua_heap_realloc(&heap, big, LUA_HEAP_SMALL + 1, 0) == NULL);
    lua_heap_release(&heap);
}

static void *heap_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    return lua_heap_realloc(ud, ptr, osize, nsize);
}

static void test_a_lua_state_runs_on_it(void)
{
    lua_heap heap = {0};
    lua_State *L = lua_newstate(heap_alloc, &heap);
    CHECK(L != NULL);
    if (!L) return;
    luaL_openlibs(L);
    /* tables, strings of every size, growth and garbage over several cycles */
    const char *code =
        "local keep = {}\n"
        "for i = 1, 200000 do\n"
        "  local t = { i = i, s = string.rep('x', i % 600), list = { i, i + 1 } }\n"
        "  if i % 1000 == 0 then keep[#keep + 1] = t end\n"
        "end\n"
        "local sum = 0\n"
        "for _, t in ipairs(keep) do sum = sum + t.i + #t.s + t.list[2] end\n"
        "return sum";
    CHECK_INT(luaL_dostring(L, code), 0);
    long long want = 0;
    for (long long i = 1000; i <= 200000; i += 1000) want += i + i % 600 + i + 1;
    CHECK(lua_tonumber(L, -1) == (double)want);
    lua_close(L);
    lua_heap_release(&heap);
}

int main(void)
{
    RUN_TEST(test_small_blocks_are_reused_by_class);
    RUN_TEST(test_resizes_keep_contents);
    RUN_TEST(test_a_lua_state_runs_on_it);
    return TEST_EXIT();
}
