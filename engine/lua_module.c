/* lua_module.c: the engine as a Lua C module (esengine_core.so) for the
 * busted harness (lua/esengine/testing.lua): an in-process engine on the
 * memory backend with a fixed clock, drained synchronously. It drives the
 * same C core as the binary. */
#include "clock.h"
#include "diag.h"
#include "engine.h"
#include "json_buf.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#define HANDLE_META "esengine_core.engine"

typedef struct handle {
    es_engine *engine;
} handle;

static es_engine *check_engine(lua_State *L)
{
    handle *h = luaL_checkudata(L, 1, HANDLE_META);
    if (!h->engine) luaL_error(L, "engine is closed");
    return h->engine;
}

/* Pushes nil and the current diag message; returns 2. */
static int push_failure(lua_State *L)
{
    lua_pushnil(L);
    lua_pushstring(L, diag_message());
    return 2;
}

static int l_open(lua_State *L)
{
    es_engine_options opt;
    engine_options_default(&opt);
    opt.pipelines_dir = luaL_checkstring(L, 1);
    opt.only_pipeline = luaL_optstring(L, 2, NULL);
    opt.memory = 1;
    opt.workers = 1;
    opt.retry_base_ms = 1000;
    clock_set_fixed((int64_t)luaL_optnumber(L, 3, 1700000000000.0));
    if (!lua_isnoneornil(L, 4)) opt.inline_projections = lua_toboolean(L, 4);
    es_engine *e = engine_open(&opt);
    if (!e) return push_failure(L);
    handle *h = lua_newuserdata(L, sizeof *h);
    h->engine = e;
    luaL_getmetatable(L, HANDLE_META);
    lua_setmetatable(L, -2);
    return 1;
}

static int l_send(lua_State *L)
{
    es_engine *e = check_engine(L);
    char *job_id = NULL, *errors = NULL;
    if (engine_send(e, luaL_checkstring(L, 2), luaL_checkstring(L, 3), luaL_checkstring(L, 4),
                    luaL_checkstring(L, 5), luaL_optstring(L, 6, NULL), &job_id, &errors) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, diag_message());
        if (errors) lua_pushstring(L, errors);
        else lua_pushnil(L);
        lua_pushstring(L, diag_code_name(diag_code_get()));
        free(errors);
        return 4;
    }
    lua_pushstring(L, job_id);
    free(job_id);
    return 1;
}

/* handle:send_many(tenant, pipeline, command, {payload_json, ...}) ->
 * {job_id, ...}, or nil, message, errors_json|nil, code, index (1-based,
 * of the payload that failed validation, else nil). */
static int l_send_many(lua_State *L)
{
    es_engine *e = check_engine(L);
    luaL_checktype(L, 5, LUA_TTABLE);
    size_t n = lua_objlen(L, 5);
    const char **payloads = calloc(n ? n : 1, sizeof *payloads);
    char **ids = calloc(n ? n : 1, sizeof *ids);
    if (!payloads || !ids) {
        free(payloads);
        free(ids);
        return luaL_error(L, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, 5, (int)i + 1);
        /* strings only: they stay alive in the table (a number converted
         * here would not) */
        payloads[i] = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        lua_pop(L, 1);
        if (!payloads[i]) {
            free(payloads);
            free(ids);
            return luaL_error(L, "send_many: payload %d is not a string", (int)i + 1);
        }
    }
    size_t failed = n;
    char *errors = NULL;
    int rc = engine_send_many(e, luaL_checkstring(L, 2), luaL_checkstring(L, 3),
                              luaL_checkstring(L, 4), payloads, n, ids, &failed, &errors);
    free(payloads);
    if (rc != 0) {
        free(ids);
        lua_pushnil(L);
        lua_pushstring(L, diag_message());
        if (errors) lua_pushstring(L, errors);
        else lua_pushnil(L);
        lua_pushstring(L, diag_code_name(diag_code_get()));
        if (failed < n) lua_pushinteger(L, (lua_Integer)failed + 1);
        else lua_pushnil(L);
        free(errors);
        return 5;
    }
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, ids[i]);
        lua_rawseti(L, -2, (int)i + 1);
        free(ids[i]);
    }
    free(ids);
    return 1;
}

static int l_drain(lua_State *L)
{
    long n = engine_drain(check_engine(L));
    if (n < 0) return push_failure(L);
    lua_pushinteger(L, n);
    return 1;
}

static int l_advance(lua_State *L)
{
    check_engine(L);
    clock_advance((int64_t)luaL_checknumber(L, 2));
    return 0;
}

static int l_now(lua_State *L)
{
    check_engine(L);
    lua_pushnumber(L, (lua_Number)clock_now_ms());
    return 1;
}

static int l_state(lua_State *L)
{
    es_engine *e = check_engine(L);
    char *state = NULL;
    int64_t last_seq = 0;
    int rc = engine_state(e, luaL_checkstring(L, 2), luaL_checkstring(L, 3),
                          luaL_checkstring(L, 4), luaL_checkstring(L, 5), &state, &last_seq);
    if (rc < 0) return push_failure(L);
    if (rc == 1) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushstring(L, state);
    lua_pushnumber(L, (lua_Number)last_seq);
    free(state);
    return 2;
}

static int collect_record(void *ud, const char *record_id, const char *aggregate_id,
                          const char *record_json, int64_t created_at)
{
    lua_State *L = ud;
    (void)record_id;
    (void)aggregate_id;
    (void)created_at;
    lua_pushstring(L, record_json);
    lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
    return 0;
}

static int l_records(lua_State *L)
{
    es_engine *e = check_engine(L);
    const char *tenant = luaL_checkstring(L, 2), *pipeline = luaL_checkstring(L, 3);
    const char *map = luaL_checkstring(L, 4);
    lua_newtable(L);
    if (engine_records(e, tenant, pipeline, map, 0, collect_record, L) != 0)
        return push_failure(L);
    return 1;
}

static int collect_event(void *ud, const es_event *ev)
{
    lua_State *L = ud;
    char *json;
    if (event_to_json(ev, &json) != 0) return 1;
    lua_pushstring(L, json);
    lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
    free(json);
    return 0;
}

static int l_events(lua_State *L)
{
    es_engine *e = check_engine(L);
    const char *tenant = luaL_checkstring(L, 2), *type = luaL_checkstring(L, 3);
    const char *id = luaL_checkstring(L, 4);
    lua_newtable(L);
    if (engine_events(e, tenant, type, id, collect_event, L) != 0) return push_failure(L);
    return 1;
}

static int collect_stats(void *ud, const es_queue_stats *r)
{
    json_buf *b = ud;
    if (b->len > 1) jb_str(b, ",");
    jb_str(b, "{\"pipeline\":");
    jb_quoted(b, r->pipeline);
    jb_str(b, ",\"component\":");
    jb_quoted(b, r->component);
    jb_printf(b, ",\"kind\":\"%s\",\"pending\":%lld,\"delayed\":%lld,\"in_flight\":%lld,"
                 "\"parked\":%lld,\"parked_groups\":%lld}",
              job_kind_name(r->kind), (long long)r->pending, (long long)r->delayed,
              (long long)r->in_flight, (long long)r->parked, (long long)r->parked_groups);
    return 0;
}

static int l_status_json(lua_State *L)
{
    es_engine *e = check_engine(L);
    es_store *q = engine_backends(e)->queue;
    json_buf b;
    jb_init(&b);
    jb_str(&b, "[");
    int rc = q->ops->queue_stats(q, clock_now_ms(), collect_stats, &b);
    jb_str(&b, "]");
    char *json = jb_take(&b);
    if (rc != 0 || !json) {
        free(json);
        return push_failure(L);
    }
    lua_pushstring(L, json);
    free(json);
    return 1;
}

static int l_close(lua_State *L)
{
    handle *h = luaL_checkudata(L, 1, HANDLE_META);
    if (h->engine) engine_close(h->engine);
    h->engine = NULL;
    return 0;
}

int luaopen_esengine_core(lua_State *L);

int luaopen_esengine_core(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"send", l_send},       {"send_many", l_send_many},
        {"drain", l_drain},     {"advance", l_advance},
        {"now", l_now},         {"state", l_state},   {"records", l_records},
        {"events", l_events},   {"status_json", l_status_json},
        {"close", l_close},     {NULL, NULL},
    };
    luaL_newmetatable(L, HANDLE_META);
    lua_newtable(L);
    luaL_register(L, NULL, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, l_open);
    lua_setfield(L, -2, "open");
    return 1;
}
