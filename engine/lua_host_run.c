/* lua_host_run.c: running pipeline code in a host (see lua_host.h): command
 * validation and handlers, fold batches, map batches and reactors. Events
 * cross into Lua as the event rows the runtime (lua/esengine/runtime.lua)
 * expects; results come back as C structs. */
#include "lua_host_internal.h"
#include "command_envelope.h"
#include "clock.h"
#include "diag.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

static int64_t field_int(lua_State *L, int idx, const char *name, int64_t dflt)
{
    lua_getfield(L, idx, name);
    int64_t out = lua_isnumber(L, -1) ? (int64_t)lua_tonumber(L, -1) : dflt;
    lua_pop(L, 1);
    return out;
}

/* Sets row[i] = value in the table on top of the stack; NULL leaves a hole. */
static void set_row_string(lua_State *L, int i, const char *value)
{
    if (!value) return;
    lua_pushstring(L, value);
    lua_rawseti(L, -2, i);
}

static void set_row_number(lua_State *L, int i, int64_t value)
{
    lua_pushnumber(L, (lua_Number)value);
    lua_rawseti(L, -2, i);
}

/* Sets row[i] = the string value, taken from field from_i of the row at
 * stack index `from` when from_value (that field's C string) is the same
 * string: a batch's events mostly share tenant, aggregate, type and
 * version, and copying a Lua string costs less than interning it again. */
static void set_row_shared(lua_State *L, int i, const char *value, int from, int from_i,
                           const char *from_value)
{
    if (!value) return;
    if (from && from_value && (from_value == value || strcmp(from_value, value) == 0))
        lua_rawgeti(L, from, from_i);
    else
        lua_pushstring(L, value);
    lua_rawseti(L, -2, i);
}

/* Pushes an event as the row the runtime expects: an array of its fields in
 * the order of rt.EVENT_FIELDS (lua/esengine/runtime.lua), so that no field
 * name is interned per event. prev: the stack index of the row of event
 * *prev_ev (0: none), whose strings it shares where they are equal. */
static void push_event_row(lua_State *L, const es_event *ev, int prev, const es_event *prev_ev)
{
    static const es_event none;
    const es_event *p = prev ? prev_ev : &none;
    lua_createtable(L, 12, 0);
    int row = lua_gettop(L);
    set_row_string(L, 1, ev->id);
    set_row_shared(L, 2, ev->tenant_id, prev, 2, p->tenant_id);
    set_row_shared(L, 3, ev->aggregate_type, prev, 3, p->aggregate_type);
    set_row_shared(L, 4, ev->aggregate_id, prev, 4, p->aggregate_id);
    set_row_number(L, 5, ev->seq);
    set_row_shared(L, 6, ev->type, prev, 6, p->type);
    set_row_shared(L, 7, ev->version, prev, 7, p->version);
    set_row_number(L, 8, ev->occurred_at);
    set_row_number(L, 9, ev->created_at);
    /* a key that is the id is the id's string */
    set_row_shared(L, 10, ev->idempotency_key, row, 1, ev->id);
    set_row_string(L, 11, ev->data_json ? ev->data_json : "{}");
    set_row_shared(L, 12, ev->metadata_json ? ev->metadata_json : "{}", prev, 12,
                   p->metadata_json ? p->metadata_json : "{}");
}

/* 1 when a and b are the same event by identity: the same strings (by
 * pointer) and numbers. Within a rows scope that means the same event. */
static int same_event(const es_event *a, const es_event *b)
{
    return a->id == b->id && a->tenant_id == b->tenant_id &&
           a->aggregate_type == b->aggregate_type && a->aggregate_id == b->aggregate_id &&
           a->seq == b->seq && a->type == b->type && a->version == b->version &&
           a->occurred_at == b->occurred_at && a->created_at == b->created_at &&
           a->idempotency_key == b->idempotency_key && a->data_json == b->data_json &&
           a->metadata_json == b->metadata_json;
}

/* 1 when the rows s keeps were pushed, in h's current rows scope, for
 * events identical to events[0..n). */
static int rows_kept_for(const lua_host *h, const host_state *s, const es_event *events, size_t n)
{
    if (!h->rows_scope || s->rows_ref == LUA_NOREF || s->rows_scope != h->rows_scope ||
        s->rows_n != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!same_event(&s->rows_events[i], &events[i])) return 0;
    return 1;
}

/* Pushes the array of the rows of events[0..n). Within a rows scope
 * (lua_host_rows_scope) the array is kept and pushed again for the same
 * events: a command batch runs its maps and folds on the same events, and
 * the runtime never changes rows (pipeline code gets tables made from
 * them). */
static void push_event_rows(lua_host *h, const es_event *events, size_t n)
{
    host_state *s = h->s;
    lua_State *L = s->L;
    if (rows_kept_for(h, s, events, n)) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, s->rows_ref);
        return;
    }
    lua_createtable(L, (int)n, 0);
    int rows = lua_gettop(L);
    for (size_t i = 0; i < n; i++) {
        if (i > 0) lua_rawgeti(L, rows, (int)i);
        push_event_row(L, &events[i], i > 0 ? lua_gettop(L) : 0, i > 0 ? &events[i - 1] : NULL);
        lua_rawseti(L, rows, (int)i + 1);
        if (i > 0) lua_pop(L, 1);
    }
    lh_drop_rows(s);
    if (!h->rows_scope) return;
    es_event *kept = realloc(s->rows_events, (n ? n : 1) * sizeof *kept);
    if (!kept) return; /* nothing kept: the next call builds its rows */
    memcpy(kept, events, n * sizeof *kept);
    s->rows_events = kept;
    s->rows_n = n;
    s->rows_scope = h->rows_scope;
    lua_pushvalue(L, -1);
    s->rows_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

void lh_drop_rows(host_state *s)
{
    if (s->rows_ref != LUA_NOREF) luaL_unref(s->L, LUA_REGISTRYINDEX, s->rows_ref);
    s->rows_ref = LUA_NOREF;
    s->rows_n = 0;
}

void lua_host_rows_scope(lua_host *h, uint64_t scope)
{
    h->rows_scope = scope;
    if (!scope && h->s) lh_drop_rows(h->s);
}

/* ---- commands ---- */

/* Sets the diag of a refused payload from the runtime's code and message
 * (the stack holds them at code_at and code_at + 1, the errors table at
 * code_at + 2). */
static void prepare_refused(lua_host *h, int code_at, char **errors_json)
{
    lua_State *L = h->s->L;
    const char *code = lua_tostring(L, code_at);
    const char *message = lua_tostring(L, code_at + 1);
    if (!code) code = "script_error";
    if (!message) message = code;
    diag_code dc = DIAG_SCRIPT;
    if (strcmp(code, "unknown_pipeline") == 0 || strcmp(code, "unknown_command") == 0)
        dc = DIAG_NOT_FOUND;
    else if (strcmp(code, "invalid_json") == 0 || strcmp(code, "invalid_payload") == 0)
        dc = DIAG_INVALID;
    if (errors_json && lua_istable(L, code_at + 2)) *errors_json = lh_encode_json(h, code_at + 2);
    diag_set(dc, "%s", message);
}

int lua_host_prepare_commands(lua_host *h, const char *tenant_id, const char *pipeline,
                              const char *command, const char *const *payloads, size_t n,
                              char **aggregate_ids, char **command_jsons, size_t *failed,
                              char **errors_json)
{
    lua_State *L = h->s->L;
    *failed = n;
    if (errors_json) *errors_json = NULL;
    for (size_t i = 0; i < n; i++) aggregate_ids[i] = command_jsons[i] = NULL;
    if (lh_push_generation(h) != 0) return -1;
    lua_pushstring(L, tenant_id);
    lua_pushstring(L, pipeline);
    lua_pushstring(L, command);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, payloads[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
    if (lh_call(h, "prepare_commands_parts", 5, 5) != 0) return -1;
    int top = lua_gettop(L), ids = top - 4, jsons = top - 3;
    if (!lua_istable(L, ids)) {
        lua_Integer index = lua_tointeger(L, top);
        if (index >= 1 && (size_t)index <= n) *failed = (size_t)index - 1;
        prepare_refused(h, top - 3, errors_json);
        lua_settop(L, top - 5);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        lua_rawgeti(L, ids, (int)i + 1);
        lua_rawgeti(L, jsons, (int)i + 1);
        const char *id = lua_tostring(L, -2) ? lua_tostring(L, -2) : "";
        aggregate_ids[i] = strdup(id);
        command_jsons[i] = lua_isstring(L, -1)
                               ? strdup(lua_tostring(L, -1))
                               : command_envelope_build(tenant_id, pipeline, command, id,
                                                        payloads[i]);
        lua_pop(L, 2);
        if (!aggregate_ids[i] || !command_jsons[i]) {
            diag_set(DIAG_INTERNAL, "out of memory preparing a command");
            *failed = i;
            rc = -1;
        }
    }
    lua_settop(L, top - 5);
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) {
            free(aggregate_ids[i]);
            free(command_jsons[i]);
            aggregate_ids[i] = command_jsons[i] = NULL;
        }
    }
    return rc;
}

int lua_host_prepare_command(lua_host *h, const char *tenant_id, const char *pipeline,
                             const char *command, const char *payload_json,
                             char **aggregate_id, char **command_json,
                             char **errors_json)
{
    size_t failed;
    return lua_host_prepare_commands(h, tenant_id, pipeline, command, &payload_json, 1,
                                     aggregate_id, command_json, &failed, errors_json);
}

static void route_clear(es_route *r)
{
    free(r->pipeline);
    free(r->component);
    free(r->key);
    fold_write_free(r->fold_write);
}

void lua_host_new_events_free(es_new_event *events, size_t n)
{
    if (!events) return;
    for (size_t i = 0; i < n; i++) {
        event_clear(&events[i].event);
        for (size_t j = 0; j < events[i].n_routes; j++) route_clear(&events[i].routes[j]);
        free(events[i].routes);
    }
    free(events);
}

/* The fields of the events and routes rt.handle_command returns. Each
 * state interns the names once, into an array kept in its registry: a
 * field is then read with lua_rawgeti + lua_rawget, where lua_getfield
 * would intern its name again at every read. */
enum new_event_field {
    NF_TENANT_ID = 1, NF_AGGREGATE_TYPE, NF_AGGREGATE_ID, NF_TYPE, NF_VERSION,
    NF_OCCURRED_AT, NF_IDEMPOTENCY_KEY, NF_DATA_JSON, NF_METADATA_JSON, NF_ROUTES,
    NF_KIND, NF_PIPELINE, NF_COMPONENT, NF_KEY, NF_KEYED
};

static const char *const NEW_EVENT_FIELDS[] = {
    "tenant_id", "aggregate_type", "aggregate_id", "type", "version",
    "occurred_at", "idempotency_key", "data_json", "metadata_json", "routes",
    "kind", "pipeline", "component", "key", "keyed",
};

#define NEW_EVENT_FIELDS_KEY "esengine.new_event_fields"
#define N_NEW_EVENT_FIELDS ((int)(sizeof NEW_EVENT_FIELDS / sizeof NEW_EVENT_FIELDS[0]))

/* Pushes the state's array of NEW_EVENT_FIELDS, made on its first use. */
static void push_new_event_fields(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, NEW_EVENT_FIELDS_KEY);
    if (lua_istable(L, -1)) return;
    lua_pop(L, 1);
    lua_createtable(L, N_NEW_EVENT_FIELDS, 0);
    for (int i = 0; i < N_NEW_EVENT_FIELDS; i++) {
        lua_pushstring(L, NEW_EVENT_FIELDS[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, NEW_EVENT_FIELDS_KEY);
}

/* A new event's or route's fields, read through the interned names. */
typedef struct field_reader {
    lua_State *L;
    int names; /* stack index of the NEW_EVENT_FIELDS array */
} field_reader;

/* Pushes field f of the table at stack index t (no metamethods: the
 * runtime's tables are plain). */
static void push_field(const field_reader *fr, int t, enum new_event_field f)
{
    lua_rawgeti(fr->L, fr->names, f);
    lua_rawget(fr->L, t);
}

/* Field f as a malloc'd string when it is a string or a number, else NULL
 * (as lh_field_string). */
static char *field_string(const field_reader *fr, int t, enum new_event_field f)
{
    push_field(fr, t, f);
    char *out = NULL;
    int type = lua_type(fr->L, -1);
    if (type == LUA_TSTRING || type == LUA_TNUMBER) out = strdup(lua_tostring(fr->L, -1));
    lua_pop(fr->L, 1);
    return out;
}

/* Reads the routes array at the top of the stack into ne, whose event is
 * read: a route without a key is keyed by the event's aggregate. */
static int read_routes(const field_reader *fr, es_new_event *ne)
{
    lua_State *L = fr->L;
    size_t n = lua_istable(L, -1) ? lua_objlen(L, -1) : 0;
    ne->routes = calloc(n ? n : 1, sizeof *ne->routes);
    if (!ne->routes) return -1;
    for (size_t j = 0; j < n; j++) {
        lua_rawgeti(L, -1, (int)j + 1);
        int t = lua_gettop(L);
        es_route *r = &ne->routes[ne->n_routes++];
        push_field(fr, t, NF_KIND);
        const char *kind = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        r->kind = kind && strcmp(kind, "map") == 0 ? JOB_MAP : JOB_FOLD;
        lua_pop(L, 1);
        r->pipeline = field_string(fr, t, NF_PIPELINE);
        r->component = field_string(fr, t, NF_COMPONENT);
        r->key = field_string(fr, t, NF_KEY);
        if (!r->key && ne->event.aggregate_id) r->key = strdup(ne->event.aggregate_id);
        push_field(fr, t, NF_KEYED);
        r->keyed = lua_toboolean(L, -1);
        lua_pop(L, 2);
        if (!r->pipeline || !r->component || !r->key) return -1;
    }
    return 0;
}

/* Reads the new event table at stack index e into ne. 0, or -1 when a
 * required field or a route is missing. */
static int read_new_event(const field_reader *fr, int e, es_new_event *ne)
{
    lua_State *L = fr->L;
    es_event *ev = &ne->event;
    ev->tenant_id = field_string(fr, e, NF_TENANT_ID);
    ev->aggregate_type = field_string(fr, e, NF_AGGREGATE_TYPE);
    ev->aggregate_id = field_string(fr, e, NF_AGGREGATE_ID);
    ev->type = field_string(fr, e, NF_TYPE);
    ev->version = field_string(fr, e, NF_VERSION);
    push_field(fr, e, NF_OCCURRED_AT);
    ev->occurred_at = lua_isnumber(L, -1) ? (int64_t)lua_tonumber(L, -1) : clock_now_ms();
    lua_pop(L, 1);
    ev->idempotency_key = field_string(fr, e, NF_IDEMPOTENCY_KEY);
    ev->data_json = field_string(fr, e, NF_DATA_JSON);
    ev->metadata_json = field_string(fr, e, NF_METADATA_JSON);
    push_field(fr, e, NF_ROUTES);
    int bad = read_routes(fr, ne);
    lua_pop(L, 1);
    if (bad || !ev->tenant_id || !ev->aggregate_type || !ev->aggregate_id || !ev->type ||
        !ev->data_json)
        return -1;
    if (!ev->version) ev->version = strdup("v1");
    if (!ev->metadata_json) ev->metadata_json = strdup("{}");
    return 0;
}

/* Reads the array of new events at stack index t (as rt.handle_command
 * returns it) into *events (malloc'd) and *n. -1 with a diag when an event
 * or a route is incomplete. */
static int read_new_events(lua_State *L, int t, es_new_event **events, size_t *n)
{
    *events = NULL;
    *n = 0;
    size_t count = lua_istable(L, t) ? lua_objlen(L, t) : 0;
    es_new_event *out = calloc(count ? count : 1, sizeof *out);
    if (!out) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    push_new_event_fields(L);
    const field_reader fr = {L, lua_gettop(L)};
    for (size_t i = 0; i < count; i++) {
        lua_rawgeti(L, t, (int)i + 1);
        int bad = read_new_event(&fr, lua_gettop(L), &out[i]);
        lua_pop(L, 1);
        if (bad) {
            lua_pop(L, 1);
            lua_host_new_events_free(out, i + 1);
            diag_set(DIAG_SCRIPT, "runtime returned an incomplete event (#%zu)", i + 1);
            return -1;
        }
    }
    lua_pop(L, 1);
    *events = out;
    *n = count;
    return 0;
}

/* Pushes the parts of command_json for rt.handle_commands_parts into the
 * table at the top of the stack, from position at + 1: the five parts
 * command_envelope_split finds, or false four times and the whole JSON. */
static void push_command_parts(lua_State *L, const char *command_json, int at)
{
    command_envelope env;
    if (command_envelope_split(command_json, strlen(command_json), &env)) {
        const json_span *span[5] = {&env.tenant_id, &env.pipeline, &env.command,
                                    &env.aggregate_id, &env.data};
        for (int i = 0; i < 5; i++) {
            lua_pushlstring(L, span[i]->at, span[i]->len);
            lua_rawseti(L, -2, at + i + 1);
        }
        return;
    }
    for (int i = 0; i < 4; i++) {
        lua_pushboolean(L, 0);
        lua_rawseti(L, -2, at + i + 1);
    }
    lua_pushstring(L, command_json);
    lua_rawseti(L, -2, at + 5);
}

int lua_host_handle_commands(lua_host *h, const char *const *command_jsons, size_t n,
                             es_new_event **results, size_t *counts, size_t *n_done)
{
    lua_State *L = h->s->L;
    *n_done = 0;
    for (size_t i = 0; i < n; i++) {
        results[i] = NULL;
        counts[i] = 0;
    }
    if (lh_push_generation(h) != 0) return -1;
    lua_createtable(L, (int)(5 * n), 0);
    for (size_t i = 0; i < n; i++) push_command_parts(L, command_jsons[i], (int)(5 * i));
    lua_pushinteger(L, (lua_Integer)n);
    if (lh_call(h, "handle_commands_parts", 3, 3) != 0) {
        lh_settle(h);
        return -1;
    }
    int top = lua_gettop(L), handled = top - 2;
    size_t ok = n;
    if (lua_isstring(L, top - 1)) {
        lua_Integer index = lua_tointeger(L, top);
        ok = index >= 1 && (size_t)index <= n ? (size_t)index - 1 : 0;
    }
    int rc = 0;
    for (size_t i = 0; i < ok && rc == 0; i++) {
        lua_rawgeti(L, handled, (int)i + 1);
        if (read_new_events(L, lua_gettop(L), &results[i], &counts[i]) != 0) {
            ok = i;
            rc = -1;
        }
        lua_pop(L, 1);
    }
    if (rc == 0 && ok < n) {
        const char *err = lua_tostring(L, top - 1);
        char *noted = lh_with_trip_note(h, strdup(err));
        diag_set(DIAG_SCRIPT, "%s", noted ? noted : err);
        free(noted);
        rc = -1;
    }
    *n_done = ok;
    lua_settop(L, top - 3);
    lh_settle(h);
    return rc;
}

int lua_host_handle_command(lua_host *h, const char *command_json, es_new_event **events,
                            size_t *n)
{
    size_t done;
    return lua_host_handle_commands(h, &command_json, 1, events, n, &done);
}

/* ---- folds, maps, reactors ---- */

void lua_host_fold_result_clear(es_fold_result *r)
{
    free(r->state_json);
    for (size_t i = 0; i < r->n_reactors; i++) {
        free(r->reactors[i].reactor);
        free(r->reactors[i].state_json);
        free(r->reactors[i].job_id);
    }
    free(r->reactors);
    free(r->error);
    memset(r, 0, sizeof *r);
}

static dedup_mode parse_dedup(const char *s)
{
    if (!s) return DEDUP_NONE;
    if (strcmp(s, "debounce") == 0) return DEDUP_DEBOUNCE;
    if (strcmp(s, "throttle") == 0) return DEDUP_THROTTLE;
    return DEDUP_NONE;
}

int lua_host_run_fold(lua_host *h, const char *pipeline, const char *fold,
                      const char *state_json, const es_event *events, size_t n,
                      es_fold_result *out)
{
    lua_State *L = h->s->L;
    memset(out, 0, sizeof *out);
    if (lh_push_generation(h) != 0) return -1;
    lua_pushstring(L, pipeline);
    lua_pushstring(L, fold);
    lh_push_opt_string(L, state_json);
    push_event_rows(h, events, n);
    if (lh_call_for(h, "fold", pipeline, fold, "run_fold", 5, 4) != 0) {
        /* The runtime itself failed: report it as a script error of the
         * whole batch, so the job is retried like any other failure. */
        out->error = strdup(diag_message());
        lh_settle(h);
        return 0;
    }
    int top = lua_gettop(L);
    if (lua_isstring(L, top - 3)) out->state_json = strdup(lua_tostring(L, top - 3));
    out->n_applied = (size_t)lua_tointeger(L, top - 2);
    if (out->n_applied > n) out->n_applied = n;
    if (lua_isstring(L, top)) out->error = lh_with_trip_note(h, strdup(lua_tostring(L, top)));
    size_t nr = lua_istable(L, top - 1) ? lua_objlen(L, top - 1) : 0;
    out->reactors = calloc(nr ? nr : 1, sizeof *out->reactors);
    for (size_t i = 0; out->reactors && i < nr; i++) {
        lua_rawgeti(L, top - 1, (int)i + 1);
        int r = lua_gettop(L);
        es_reactor_job *rj = &out->reactors[out->n_reactors++];
        rj->reactor = lh_field_string(L, r, "reactor");
        rj->index = (size_t)field_int(L, r, "index", 1) - 1;
        rj->state_json = lh_field_string(L, r, "state_json");
        rj->delay_ms = field_int(L, r, "delay", 0);
        rj->job_id = lh_field_string(L, r, "job_id");
        char *dedup = lh_field_string(L, r, "dedup");
        rj->dedup = parse_dedup(dedup);
        free(dedup);
        lua_pop(L, 1);
        if (!rj->reactor || rj->index >= n) {
            out->n_reactors--;
            free(rj->reactor);
            free(rj->state_json);
            free(rj->job_id);
        }
    }
    lua_settop(L, top - 4);
    lh_settle(h);
    return 0;
}

void lua_host_strings_free(char **strings, size_t n)
{
    if (!strings) return;
    for (size_t i = 0; i < n; i++) free(strings[i]);
    free(strings);
}

int lua_host_run_map(lua_host *h, const char *pipeline, const char *map,
                     const es_event *events, size_t n, char ***records,
                     size_t *n_done, char **error)
{
    lua_State *L = h->s->L;
    *records = calloc(n ? n : 1, sizeof **records);
    *n_done = 0;
    *error = NULL;
    if (!*records) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    if (lh_push_generation(h) != 0) return -1;
    lua_pushstring(L, pipeline);
    lua_pushstring(L, map);
    push_event_rows(h, events, n);
    if (lh_call_for(h, "map", pipeline, map, "run_map", 4, 3) != 0) {
        *error = strdup(diag_message());
        lh_settle(h);
        return 0;
    }
    int top = lua_gettop(L);
    *n_done = (size_t)lua_tointeger(L, top - 1);
    if (*n_done > n) *n_done = n;
    if (lua_isstring(L, top)) *error = lh_with_trip_note(h, strdup(lua_tostring(L, top)));
    for (size_t i = 0; i < *n_done && lua_istable(L, top - 2); i++) {
        lua_rawgeti(L, top - 2, (int)i + 1);
        if (lua_isstring(L, -1)) (*records)[i] = strdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_settop(L, top - 3);
    lh_settle(h);
    return 0;
}

void lua_host_dispatches_free(es_dispatch *d, size_t n)
{
    if (!d) return;
    for (size_t i = 0; i < n; i++) {
        free(d[i].pipeline);
        free(d[i].command);
        free(d[i].aggregate_id);
        free(d[i].command_json);
    }
    free(d);
}

int lua_host_run_reactor(lua_host *h, const char *pipeline, const char *reactor,
                         const es_event *event, const char *state_json,
                         es_dispatch **out, size_t *n, char **error)
{
    lua_State *L = h->s->L;
    *out = NULL;
    *n = 0;
    *error = NULL;
    if (lh_push_generation(h) != 0) return -1;
    lua_pushstring(L, pipeline);
    lua_pushstring(L, reactor);
    push_event_row(L, event, 0, NULL);
    lh_push_opt_string(L, state_json);
    if (lh_call_for(h, "reactor", pipeline, reactor, "run_reactor", 5, 2) != 0) {
        *error = strdup(diag_message());
        lh_settle(h);
        return 0;
    }
    int top = lua_gettop(L);
    if (lua_isstring(L, top)) *error = lh_with_trip_note(h, strdup(lua_tostring(L, top)));
    size_t count = lua_istable(L, top - 1) ? lua_objlen(L, top - 1) : 0;
    *out = calloc(count ? count : 1, sizeof **out);
    for (size_t i = 0; *out && i < count; i++) {
        lua_rawgeti(L, top - 1, (int)i + 1);
        int d = lua_gettop(L);
        es_dispatch *dp = &(*out)[*n];
        dp->pipeline = lh_field_string(L, d, "pipeline");
        dp->command = lh_field_string(L, d, "command");
        dp->aggregate_id = lh_field_string(L, d, "aggregate_id");
        dp->command_json = lh_field_string(L, d, "command_json");
        lua_pop(L, 1);
        if (dp->pipeline && dp->command && dp->aggregate_id && dp->command_json) (*n)++;
        else {
            free(dp->pipeline);
            free(dp->command);
            free(dp->aggregate_id);
            free(dp->command_json);
        }
    }
    lua_settop(L, top - 2);
    lh_settle(h);
    return 0;
}
