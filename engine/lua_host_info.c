/* lua_host_info.c: what a host tells about its loaded generation (fold and
 * map facts, summaries, store tables, reload status) and the OTLP batch
 * conversion of the trace pipeline; see lua_host.h. */
#include "lua_host_internal.h"
#include "diag.h"
#include "json_buf.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

/* ---- introspection ---- */

void lua_host_info_clear(es_component_info *info)
{
    free(info->table);
    memset(info, 0, sizeof *info);
}

static int component_info(lua_host *h, const char *fn, const char *pipeline,
                          const char *name, es_component_info *out)
{
    lua_State *L = h->s->L;
    memset(out, 0, sizeof *out);
    if (lh_push_generation(h) != 0) return -1;
    lua_pushstring(L, pipeline);
    lua_pushstring(L, name);
    if (lh_call(h, fn, 3, 2) != 0) return -1;
    int top = lua_gettop(L);
    if (!lua_istable(L, top - 1)) {
        diag_set(DIAG_NOT_FOUND, "%s",
                 lua_isstring(L, top) ? lua_tostring(L, top) : "unknown component");
        lua_settop(L, top - 2);
        return -1;
    }
    out->table = lh_field_string(L, top - 1, "table");
    lua_getfield(L, top - 1, "custom");
    out->custom = lua_toboolean(L, -1);
    lua_getfield(L, top - 1, "keyed");
    out->keyed = lua_toboolean(L, -1);
    lua_settop(L, top - 2);
    return 0;
}

int lua_host_fold_info(lua_host *h, const char *pipeline, const char *fold,
                       es_component_info *out)
{
    return component_info(h, "fold_info", pipeline, fold, out);
}

int lua_host_map_info(lua_host *h, const char *pipeline, const char *map,
                      es_component_info *out)
{
    return component_info(h, "map_info", pipeline, map, out);
}

char *lua_host_describe(lua_host *h)
{
    if (lh_push_generation(h) != 0) return NULL;
    if (lh_call(h, "summary", 1, 1) != 0) return NULL;
    char *json = lh_encode_json(h, -1);
    lua_pop(h->s->L, 1);
    return json;
}

char *lua_host_reload_status(lua_host *h, const char *previous_json, int64_t now_ms,
                             const char *error)
{
    if (lh_push_generation(h) != 0) return NULL;
    lh_push_opt_string(h->s->L, previous_json);
    lua_pushnumber(h->s->L, (lua_Number)now_ms);
    lh_push_opt_string(h->s->L, error);
    if (lh_call(h, "reload_status", 4, 1) != 0) return NULL;
    char *json = lua_isstring(h->s->L, -1) ? strdup(lua_tostring(h->s->L, -1)) : NULL;
    lua_pop(h->s->L, 1);
    if (!json) diag_set(DIAG_INTERNAL, "runtime.reload_status returned no JSON");
    return json;
}

static size_t field_len(lua_State *L, int idx, const char *name)
{
    lua_getfield(L, idx, name);
    size_t n = lua_istable(L, -1) ? lua_objlen(L, -1) : 0;
    lua_pop(L, 1);
    return n;
}

char *lua_host_summary_text(lua_host *h)
{
    lua_State *L = h->s->L;
    if (lh_push_generation(h) != 0) return NULL;
    if (lh_call(h, "summary", 1, 1) != 0) return NULL;
    int t = lua_gettop(L);
    json_buf b;
    jb_init(&b);
    size_t n = lua_istable(L, t) ? lua_objlen(L, t) : 0;
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, t, (int)i + 1);
        int p = lua_gettop(L);
        char *name = lh_field_string(L, p, "name");
        char *aggregate = lh_field_string(L, p, "aggregate_type");
        jb_printf(&b, "%s: aggregate %s, %zu commands, %zu folds, %zu maps, %zu reactors\n",
                  name ? name : "?", aggregate ? aggregate : "-", field_len(L, p, "commands"),
                  field_len(L, p, "folds"), field_len(L, p, "maps"),
                  field_len(L, p, "reactors"));
        free(name);
        free(aggregate);
        lua_pop(L, 1);
    }
    lua_settop(L, t - 1);
    return jb_take(&b);
}

/* Copies the strings of the Lua array at idx into a malloc'd array (one
 * slot at least); NULL when out of memory. */
static char **string_array(lua_State *L, int idx, size_t count)
{
    char **out = calloc(count ? count : 1, sizeof *out);
    for (size_t i = 0; out && i < count; i++) {
        lua_rawgeti(L, idx, (int)i + 1);
        size_t len = 0;
        const char *s = lua_tolstring(L, -1, &len);
        out[i] = s ? strndup(s, len) : NULL;
        lua_pop(L, 1);
        if (!out[i]) {
            lua_host_strings_free(out, i);
            out = NULL;
        }
    }
    return out;
}

int lua_host_otlp_commands(lua_host *h, const char *tenant_id, const char *pipeline,
                           const char *command, const char *otlp_json, size_t len,
                           size_t max_spans, lua_host_otlp_batch *out)
{
    memset(out, 0, sizeof *out);
    lua_State *L = h->s->L;
    if (lh_push_generation(h) != 0) return -1;
    lua_pushstring(L, tenant_id);
    lua_pushstring(L, pipeline);
    lua_pushstring(L, command);
    lua_pushlstring(L, otlp_json, len);
    lua_pushnumber(L, (lua_Number)max_spans);
    if (lh_call(h, "otlp_commands", 6, 4) != 0) {
        if (strstr(diag_message(), "invalid JSON")) diag_set(DIAG_INVALID, "%.200s", diag_message());
        return -1;
    }
    int top = lua_gettop(L);
    int rc = 0;
    if (!lua_istable(L, top - 3)) {
        out->rejected = (size_t)lua_tonumber(L, top - 2);
        rc = 1;
    } else {
        size_t count = lua_objlen(L, top - 3);
        out->aggregate_ids = string_array(L, top - 3, count);
        out->command_jsons = string_array(L, top - 2, count);
        out->n = count;
        out->rejected = (size_t)lua_tonumber(L, top - 1);
        if (lua_isstring(L, top)) out->rejected_message = strdup(lua_tostring(L, top));
        if (!out->aggregate_ids || !out->command_jsons) {
            lua_host_otlp_batch_clear(out);
            diag_set(DIAG_INTERNAL, "out of memory");
            rc = -1;
        }
    }
    lua_settop(L, top - 4);
    return rc;
}

void lua_host_otlp_batch_clear(lua_host_otlp_batch *b)
{
    lua_host_strings_free(b->aggregate_ids, b->n);
    lua_host_strings_free(b->command_jsons, b->n);
    free(b->rejected_message);
    memset(b, 0, sizeof *b);
}

/* Reports the store tables of one summary list (folds or maps) at idx. */
static int report_tables(lua_State *L, int idx, int is_fold, lua_host_table_cb cb, void *ud)
{
    size_t n = lua_istable(L, idx) ? lua_objlen(L, idx) : 0;
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, idx, (int)i + 1);
        int c = lua_gettop(L);
        lua_getfield(L, c, "custom");
        int custom = lua_toboolean(L, -1);
        lua_getfield(L, c, "table");
        const char *table = lua_tostring(L, -1);
        const char *cols[64][2];
        size_t n_cols = 0;
        lua_getfield(L, c, "columns");
        if (lua_istable(L, -1)) {
            lua_pushnil(L);
            while (lua_next(L, -2) != 0 && n_cols < 64) {
                if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
                    cols[n_cols][0] = lua_tostring(L, -2);
                    cols[n_cols][1] = lua_tostring(L, -1);
                    n_cols++;
                }
                lua_pop(L, 1);
            }
        }
        int rc = (!custom && table) ? cb(ud, table, is_fold, (const char *const(*)[2])cols, n_cols) : 0;
        lua_settop(L, c - 1);
        if (rc != 0) return -1;
    }
    return 0;
}

int lua_host_store_tables(lua_host *h, lua_host_table_cb cb, void *ud)
{
    lua_State *L = h->s->L;
    if (lh_push_generation(h) != 0) return -1;
    if (lh_call(h, "summary", 1, 1) != 0) return -1;
    int t = lua_gettop(L);
    size_t n = lua_istable(L, t) ? lua_objlen(L, t) : 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        lua_rawgeti(L, t, (int)i + 1);
        int p = lua_gettop(L);
        lua_getfield(L, p, "folds");
        rc = report_tables(L, lua_gettop(L), 1, cb, ud);
        lua_getfield(L, p, "maps");
        if (rc == 0) rc = report_tables(L, lua_gettop(L), 0, cb, ud);
        lua_settop(L, p - 1);
    }
    lua_settop(L, t - 1);
    return rc;
}
