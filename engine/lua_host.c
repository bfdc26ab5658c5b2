/* lua_host.c: the per-thread LuaJIT state and every call from C into the
 * trusted runtime (see lua_host.h). All Lua values are turned into C structs
 * before a function returns.
 *
 * Limits on pipeline code. Time: the runtime arms the host's guard
 * (lua_watchdog.h) before every handler call with the component's
 * timeout_ms or the default; the watchdog thread, past the deadline, sets a
 * count hook (every instruction) on the state, and the hook raises "handler
 * timed out" from any pipeline function, again at each of its instructions,
 * so a pipeline's own pcall cannot swallow it; engine library code runs on
 * to report the error (pipeline, component, event, file:line). Stock LuaJIT
 * never calls hooks inside compiled traces, so pipeline code is never
 * compiled: the sandbox loads every pipeline chunk with jit.off(chunk, true),
 * and the engine's own code keeps the JIT. Chosen over the alternatives
 * because it is safe: lua_sethook is the one call LuaJIT expects from
 * outside the running code (the luajit binary calls it from its SIGINT
 * handler), whereas flushing or switching the JIT from another thread, or
 * cancelling the thread, corrupts the state; process isolation would cost
 * a fork and IPC per worker. Not covered: a single C call that runs long
 * (a pathological pattern in string.find); the group stays in flight and
 * other groups keep flowing on other workers.
 * Memory: the state runs on its own lua_heap wrapped in count_alloc,
 * which counts bytes and refuses past --lua-memory-mb ("not enough memory"),
 * flagging the guard so that the watchdog stops a handler that catches it.
 * A state whose call tripped either limit is dropped and rebuilt from the
 * pipelines dir (a load always builds a fresh state: a failed or tripped
 * load leaves the running generation untouched).
 * Cost, measured: bench/limits/fold_cpu.lua (runtime fold + map of the
 * embedded benchmark's pipeline, CPU time) gives JIT-off/JIT-on 0.92 and
 * 1.05 in two runs of 200,000 events, i.e. within noise; embedded_bench
 * 200000 2000 (3 runs each, before/after, machine shared and loaded):
 * end-to-end 3993/3495/2240 vs 4032/2804/2961 events/s, and with
 * BENCH_MEMORY=1 26278/23510 vs 24752/29864 events/s: no difference beyond
 * the run-to-run noise. Per handler call the guard adds one clock read. */
#include "lua_host.h"
#include "lua_json.h"
#include "clock.h"
#include "diag.h"
#include "ids.h"
#include "log.h"
#include "lua_sources.h"
#include "lua_watchdog.h"

#include <dirent.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HOST_KEY "esengine.lua_host"
#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_MEMORY_MB 512

#include "lua_host_internal.h"

/* ---- the esengine.core module: the few services Lua asks of C ---- */

static int l_core_list_dir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    DIR *dir = opendir(path);
    if (!dir) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot list %s", path);
        return 2;
    }
    lua_newtable(L);
    int i = 0;
    struct dirent *ent;
    while ((ent = readdir(dir)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) continue;
        lua_pushstring(L, ent->d_name);
        lua_rawseti(L, -2, ++i);
    }
    closedir(dir);
    return 1;
}

static int l_core_is_dir(lua_State *L)
{
    struct stat st;
    lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0 && S_ISDIR(st.st_mode));
    return 1;
}

static int l_core_log(lua_State *L)
{
    int level = log_level_parse(luaL_checkstring(L, 1));
    const char *message = luaL_checkstring(L, 2);
    if (level < 0) level = LOG_INFO;
    log_write((log_level)level, "lua", 0, "%s", message);
    return 0;
}

static int l_core_now(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)clock_now_ms());
    return 1;
}

static int l_core_hash(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", ids_hash64(s, n, 0));
    lua_pushstring(L, hex);
    return 1;
}

/* core.arm(timeout_ms): the runtime starts a handler call; 0 or nil means
 * the host's default limit. The host is the closure's upvalue. */
static int l_core_arm(lua_State *L)
{
    lua_host *h = lua_touserdata(L, lua_upvalueindex(1));
    lua_Number ms = lua_tonumber(L, 1);
    lua_guard_arm(&h->guard, ms > 0 ? (int64_t)ms : h->timeout_ms);
    return 0;
}

static int l_core_open(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"list_dir", l_core_list_dir}, {"is_dir", l_core_is_dir},
        {"log", l_core_log},           {"now", l_core_now},
        {"hash", l_core_hash},         {NULL, NULL},
    };
    lua_newtable(L);
    luaL_register(L, NULL, functions);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, l_core_arm, 1);
    lua_setfield(L, -2, "arm");
    lua_json_register(L);
    return 1;
}

/* ---- limits: memory, and the watchdog's trip ---- */

/* The state's allocator: its lua_heap, with a byte count and a limit. A
 * refused allocation raises "not enough memory" where it happened and asks
 * the watchdog to stop the handler (it may catch that error). */
static void *count_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    host_state *s = ud;
    if (nsize > osize && s->limit > 0 && s->used + (int64_t)(nsize - osize) > s->limit) {
        lua_guard_flag(&s->host->guard, LUA_GUARD_MEMORY);
        return NULL;
    }
    void *p = lua_heap_realloc(&s->heap, ptr, osize, nsize);
    if (p || nsize == 0) s->used += (int64_t)nsize - (int64_t)osize;
    return p;
}

/* Why a call was stopped, for error messages. */
static void trip_text(const lua_host *h, lua_guard_reason why, char *buf, size_t size)
{
    if (why == LUA_GUARD_MEMORY)
        snprintf(buf, size, "Lua memory limit of %lld MB reached",
                 (long long)(h->memory_limit >> 20));
    else
        snprintf(buf, size, "handler timed out: still running after its limit of %lld ms",
                 (long long)atomic_load(&((lua_guard *)&h->guard)->timeout_ms));
}

/* Engine library code (embedded chunks) runs on after a trip, so that the
 * runtime reports the failure; pipeline code does not. */
static int is_engine_source(const char *source)
{
    for (const lua_source *src = lua_sources; src->module; src++)
        if (strcmp(source, src->chunkname) == 0) return 1;
    return 0;
}

/* Set on a tripped state: every pipeline instruction raises. An error a
 * pipeline catches with pcall is raised again by its next instruction. */
static void abort_hook(lua_State *L, lua_Debug *ar)
{
    if (lua_getinfo(L, "S", ar) && is_engine_source(ar->source)) return;
    lua_getfield(L, LUA_REGISTRYINDEX, HOST_KEY);
    lua_host *h = lua_touserdata(L, -1);
    lua_pop(L, 1);
    pthread_mutex_lock(&h->guard.lock);
    lua_guard_reason why = (lua_guard_reason)h->guard.tripped;
    pthread_mutex_unlock(&h->guard.lock);
    char text[160];
    trip_text(h, why, text, sizeof text);
    luaL_error(L, "%s", text);
}

/* The watchdog's trip (its thread, guard lock held, host inside a call).
 * lua_sethook is the one LuaJIT call meant to be made asynchronously (the
 * luajit binary calls it from its SIGINT handler); the hook then runs on the
 * worker's own thread. Compiled traces never call hooks, which is why
 * pipeline code is never compiled (sandbox.lua: jit.off). */
static void trip_state(lua_guard *g, void *ud)
{
    (void)g;
    lua_host *h = ud;
    if (h->call_L) lua_sethook(h->call_L, abort_hook, LUA_MASKCOUNT, 1);
}

/* ---- calling into Lua ---- */

static int traceback_handler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) msg = "(error object is not a string)";
    lua_rawgeti(L, LUA_REGISTRYINDEX, (int)lua_tointeger(L, lua_upvalueindex(1)));
    lua_pushstring(L, msg);
    lua_pushinteger(L, 2);
    lua_call(L, 2, 1);
    return 1;
}

/* The component a call runs for, named in the errors of a call that
 * tripped a limit as "pipeline P KIND C": formatted only then. */
typedef struct call_site {
    const char *kind;
    const char *pipeline;
    const char *component;
} call_site;

/* Calls runtime[fn] in state s with the nargs values on top of the stack in
 * protected mode, under the watchdog. On success the nresults results
 * replace the arguments; on failure the stack is restored and a DIAG_SCRIPT
 * diag holds message + traceback. A call that tripped a limit marks s
 * broken and sets h->last_trip, whatever its outcome; when it also failed,
 * the diag says which limit, after where the call ran (site, or NULL):
 * past the memory limit the runtime could not say it itself. */
static int host_call_in(lua_host *h, host_state *s, const call_site *site, const char *fn,
                        int nargs, int nresults)
{
    lua_State *L = s->L;
    int base = lua_gettop(L) - nargs;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->handler_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->runtime_ref);
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
    lua_insert(L, base + 1);
    lua_insert(L, base + 1);
    h->call_L = L;
    lua_guard_begin(&h->guard);
    int rc = lua_pcall(L, nargs, nresults, base + 1);
    h->last_trip = lua_guard_end(&h->guard);
    if (h->last_trip != LUA_GUARD_NONE) s->broken = h->last_trip;
    if (rc != 0) {
        const char *msg = lua_tostring(L, -1) ? lua_tostring(L, -1) : "error";
        char text[160];
        if (h->last_trip != LUA_GUARD_NONE)
            trip_text(h, h->last_trip, text, sizeof text);
        if (h->last_trip != LUA_GUARD_NONE && !strstr(msg, text)) {
            char where[256] = "";
            if (site)
                snprintf(where, sizeof where, "pipeline %s %s %s", site->pipeline, site->kind,
                         site->component);
            diag_set(DIAG_SCRIPT, "%s%s%s (%s)", where, site ? ": " : "", text, msg);
        } else {
            diag_set(DIAG_SCRIPT, "%s", msg);
        }
        lua_settop(L, base);
        return -1;
    }
    lua_remove(L, base + 1);
    return 0;
}

int lh_call(lua_host *h, const char *fn, int nargs, int nresults)
{
    return host_call_in(h, h->s, NULL, fn, nargs, nresults);
}

int lh_call_for(lua_host *h, const char *kind, const char *pipeline,
                         const char *component, const char *fn, int nargs, int nresults)
{
    const call_site site = {kind, pipeline, component};
    return host_call_in(h, h->s, &site, fn, nargs, nresults);
}

char *lh_with_trip_note(lua_host *h, char *error)
{
    if (!error || h->last_trip != LUA_GUARD_MEMORY) return error;
    char text[160];
    trip_text(h, h->last_trip, text, sizeof text);
    size_t n = strlen(error) + strlen(text) + 64;
    char *out = malloc(n);
    if (!out) return error;
    snprintf(out, n, "%s (%s; the Lua state is rebuilt)", error, text);
    free(error);
    return out;
}


/* Pushes the loaded generation; -1 with a diag before the first load or
 * when a broken state could not be rebuilt. */
int lh_push_generation(lua_host *h)
{
    lh_settle(h);
    if (h->s->broken != LUA_GUARD_NONE) {
        diag_set(DIAG_SCRIPT, "the Lua state was dropped after a %s and cannot be rebuilt yet",
                 h->s->broken == LUA_GUARD_MEMORY ? "memory limit" : "time limit");
        return -1;
    }
    if (h->s->gen_ref == LUA_NOREF) {
        diag_set(DIAG_INTERNAL, "no pipelines loaded");
        return -1;
    }
    lua_rawgeti(h->s->L, LUA_REGISTRYINDEX, h->s->gen_ref);
    return 0;
}

/* Encodes the value at idx with cjson into a malloc'd string (NULL on error). */
char *lh_encode_json(lua_host *h, int idx)
{
    lua_State *L = h->s->L;
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->s->cjson_ref);
    lua_getfield(L, -1, "encode");
    lua_remove(L, -2);
    lua_pushvalue(L, idx);
    if (lua_pcall(L, 1, 1, 0) != 0) {
        diag_set(DIAG_SCRIPT, "cannot encode JSON: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return NULL;
    }
    char *out = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    return out;
}

char *lh_field_string(lua_State *L, int idx, const char *name)
{
    lua_getfield(L, idx, name);
    char *out = NULL;
    if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)
        out = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    return out;
}

void lh_push_opt_string(lua_State *L, const char *s)
{
    if (s) lua_pushstring(L, s);
    else lua_pushnil(L);
}

/* ---- lifecycle ---- */

static int register_preloads(lua_State *L, lua_host *h)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    for (const lua_source *src = lua_sources; src->module; src++) {
        if (luaL_loadbuffer(L, src->code, src->len, src->chunkname) != 0) {
            diag_set(DIAG_INTERNAL, "embedded %s: %s", src->chunkname, lua_tostring(L, -1));
            lua_pop(L, 3);
            return -1;
        }
        lua_setfield(L, -2, src->module);
    }
    lua_pushlightuserdata(L, h);
    lua_pushcclosure(L, l_core_open, 1);
    lua_setfield(L, -2, "esengine.core");
    lua_pop(L, 2);
    return 0;
}

static int require_ref(lua_State *L, const char *module, int *ref)
{
    lua_getglobal(L, "require");
    lua_pushstring(L, module);
    if (lua_pcall(L, 1, 1, 0) != 0) {
        diag_set(DIAG_INTERNAL, "cannot load %s: %s", module, lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    *ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static void state_free(host_state *s)
{
    if (!s) return;
    lua_close(s->L);
    lua_heap_release(&s->heap);
    free(s->rows_events);
    free(s);
}

/* A fresh state with the standard libraries, the embedded library and the
 * runtime, counting its memory against h's limit. NULL with a diag. */
static host_state *state_new(lua_host *h)
{
    host_state *s = calloc(1, sizeof *s);
    if (!s) {
        diag_set(DIAG_INTERNAL, "out of memory creating a Lua state");
        return NULL;
    }
    s->host = h;
    s->gen_ref = LUA_NOREF;
    s->rows_ref = LUA_NOREF;
    s->limit = h->memory_limit;
    s->L = lua_newstate(count_alloc, s);
    if (!s->L) {
        lua_heap_release(&s->heap);
        free(s);
        diag_set(DIAG_INTERNAL, "cannot create a Lua state");
        return NULL;
    }
    lua_State *L = s->L;
    luaL_openlibs(L);
    lua_pushlightuserdata(L, h);
    lua_setfield(L, LUA_REGISTRYINDEX, HOST_KEY);
    lua_getglobal(L, "debug");
    lua_getfield(L, -1, "traceback");
    s->traceback_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1);
    /* made once: a closure per call cost an allocation per call */
    lua_pushinteger(L, s->traceback_ref);
    lua_pushcclosure(L, traceback_handler, 1);
    s->handler_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (register_preloads(L, h) != 0 || require_ref(L, "cjson", &s->cjson_ref) != 0 ||
        require_ref(L, "esengine.runtime", &s->runtime_ref) != 0) {
        state_free(s);
        return NULL;
    }
    return s;
}

lua_host *lua_host_new(void)
{
    lua_host *h = calloc(1, sizeof *h);
    if (!h) {
        diag_set(DIAG_INTERNAL, "out of memory creating a Lua host");
        return NULL;
    }
    h->timeout_ms = DEFAULT_TIMEOUT_MS;
    h->memory_limit = (int64_t)DEFAULT_MEMORY_MB << 20;
    if (lua_guard_init(&h->guard, trip_state, h) != 0) {
        free(h);
        return NULL;
    }
    h->s = state_new(h);
    if (!h->s) {
        lua_guard_destroy(&h->guard);
        free(h);
        return NULL;
    }
    return h;
}

void lua_host_free(lua_host *h)
{
    if (!h) return;
    lua_guard_destroy(&h->guard);
    state_free(h->s);
    free(h->dir);
    free(h->only);
    free(h);
}

void lua_host_set_limits(lua_host *h, int64_t timeout_ms, int64_t memory_mb)
{
    if (timeout_ms > 0) h->timeout_ms = timeout_ms;
    if (memory_mb >= 0) h->memory_limit = memory_mb << 20;
    h->s->limit = h->memory_limit;
}

int64_t lua_host_memory(lua_host *h) { return h->s->used; }

/* Builds the generation in a state (runtime.load / load_one); on success it
 * is s's generation. -1 with a "file:line: message" diag. */
static int load_into(lua_host *h, host_state *s, const char *dir, const char *only)
{
    lua_State *L = s->L;
    lua_pushstring(L, dir);
    int nargs = 1;
    const char *fn = "load";
    if (only) {
        lua_pushstring(L, only);
        nargs = 2;
        fn = "load_one";
    }
    if (host_call_in(h, s, NULL, fn, nargs, 1) != 0) {
        /* A load error is "file:line: message": the runtime's own frames in
         * the traceback would only distract. */
        char message[1024];
        snprintf(message, sizeof message, "%s", diag_message());
        char *tb = strstr(message, "\nstack traceback:");
        if (tb) *tb = '\0';
        diag_set(DIAG_SCRIPT, "%s", message);
        return -1;
    }
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        diag_set(DIAG_SCRIPT, "%s: runtime.load returned no generation", dir);
        return -1;
    }
    if (s->broken != LUA_GUARD_NONE) {
        lua_pop(L, 1);
        diag_set(DIAG_SCRIPT, "%s: loading tripped the %s limit", dir,
                 s->broken == LUA_GUARD_MEMORY ? "memory" : "time");
        return -1;
    }
    s->gen_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

int lua_host_load(lua_host *h, const char *dir, const char *only)
{
    /* A state that never held a generation is used as is; otherwise the new
     * generation is built beside the running one, which a failure leaves
     * untouched (and a success drops whole: no growth over reloads). */
    int fresh = h->s->gen_ref != LUA_NOREF || h->s->broken != LUA_GUARD_NONE;
    host_state *s = fresh ? state_new(h) : h->s;
    if (!s) return -1;
    char *new_dir = strdup(dir);
    char *new_only = only ? strdup(only) : NULL;
    if (!new_dir || (only && !new_only) || load_into(h, s, dir, only) != 0) {
        if (!new_dir || (only && !new_only)) diag_set(DIAG_INTERNAL, "out of memory");
        free(new_dir);
        free(new_only);
        if (fresh) state_free(s);
        return -1;
    }
    lua_State *L = s->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->gen_ref);
    lua_getfield(L, -1, "hash");
    snprintf(h->generation, sizeof h->generation, "%s",
             lua_isstring(L, -1) ? lua_tostring(L, -1) : "");
    lua_pop(L, 2);
    lua_gc(L, LUA_GCCOLLECT, 0);
    if (fresh) state_free(h->s);
    h->s = s;
    free(h->dir);
    free(h->only);
    h->dir = new_dir;
    h->only = new_only;
    return 0;
}

void lh_settle(lua_host *h)
{
    lua_guard_reason why = h->s->broken;
    if (why == LUA_GUARD_NONE || !h->dir) return;
    char *dir = strdup(h->dir);
    char *only = h->only ? strdup(h->only) : NULL;
    if (dir && lua_host_load(h, dir, only) == 0)
        log_warn("Lua state rebuilt after the %s limit (generation %s)",
                 why == LUA_GUARD_MEMORY ? "memory" : "time", h->generation);
    else
        log_error_limited("lua_rebuild", "cannot rebuild the Lua state after the %s limit: %s",
                          why == LUA_GUARD_MEMORY ? "memory" : "time", diag_message());
    free(dir);
    free(only);
}

int lua_host_has_pipeline(lua_host *h, const char *pipeline)
{
    if (lh_push_generation(h) != 0) return 0;
    lua_State *L = h->s->L;
    lua_getfield(L, -1, "pipelines");
    int found = 0;
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, pipeline);
        found = !lua_isnil(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
    return found;
}

const char *lua_host_generation(lua_host *h) { return h->generation; }
