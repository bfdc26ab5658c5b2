/* lua_host_internal.h: what lua_host.c shares with lua_host_info.c (the
 * host's introspection calls): the host's state and the helpers that call
 * into the runtime. Not for other callers: they use lua_host.h. */
#ifndef ES_LUA_HOST_INTERNAL_H
#define ES_LUA_HOST_INTERNAL_H

#include <lua.h>
#include <stdint.h>

#include "lua_heap.h"
#include "lua_host.h"
#include "lua_watchdog.h"

/* One lua_State with the engine library loaded. A host replaces its state
 * as a whole: a load builds the new generation in a fresh state (the old one
 * keeps running until the new one is complete), and a state whose call
 * tripped the time or memory limit is dropped and rebuilt. */
typedef struct host_state {
    lua_State *L;
    lua_host *host;
    lua_heap heap;           /* the state's memory, wrapped by count_alloc */
    int64_t used;            /* bytes the state holds */
    int64_t limit;           /* bytes; 0 = no limit */
    int traceback_ref;       /* debug.traceback, kept before any sandboxing */
    int handler_ref;         /* the error handler of every call (lua_host.c) */
    int runtime_ref;         /* the esengine.runtime module table */
    int cjson_ref;           /* the cjson module */
    int gen_ref;             /* the loaded generation, LUA_NOREF before load */
    int rows_ref;            /* the event rows kept in a rows scope for a
                                fold or map, LUA_NOREF: none (lua_host_run.c) */
    es_event *rows_events;   /* shallow copies of the events of rows_ref */
    size_t rows_n;
    uint64_t rows_scope;     /* the scope rows_ref was pushed in */
    lua_guard_reason broken; /* a call tripped a limit: never call into it again */
} host_state;

struct lua_host {
    host_state *s;
    lua_guard guard;
    lua_State *call_L;         /* the state inside the current host call */
    lua_guard_reason last_trip; /* of the last host call */
    int64_t timeout_ms;        /* default limit of one handler call */
    int64_t memory_limit;      /* bytes per state; 0 = none */
    uint64_t rows_scope;       /* lua_host_rows_scope; 0: none */
    char *dir, *only;          /* what the generation was loaded from */
    char generation[64];
};

/* Forgets the event rows s keeps (lua_host_run.c). */
void lh_drop_rows(host_state *s);

/* Calls runtime[fn] with the nargs values on top of the stack in protected
 * mode; on success the nresults results replace the arguments, on failure
 * the stack is restored and a DIAG_SCRIPT diag holds message + traceback. */
int lh_call(lua_host *h, const char *fn, int nargs, int nresults);

/* lh_call for a job of one component, its errors prefixed with where it
 * ran: "pipeline P <kind> C". */
int lh_call_for(lua_host *h, const char *kind, const char *pipeline, const char *component,
                const char *fn, int nargs, int nresults);

/* A script error of a call that tripped a limit, with why (malloc'd; takes
 * error). The time limit needs no note: the hook's message says it. */
char *lh_with_trip_note(lua_host *h, char *error);

/* Rebuilds a state that tripped a limit from the pipelines dir it was
 * loaded from. On failure the broken state stays refused
 * (lh_push_generation) and the next call tries again. */
void lh_settle(lua_host *h);

/* Pushes the loaded generation; -1 with a diag when none can be used. */
int lh_push_generation(lua_host *h);

/* The value at idx as cjson text, malloc'd (NULL with a diag). */
char *lh_encode_json(lua_host *h, int idx);

/* A string or number field of the table at idx, malloc'd, or NULL. */
char *lh_field_string(lua_State *L, int idx, const char *name);

/* Pushes s, or nil when s is NULL. */
void lh_push_opt_string(lua_State *L, const char *s);

#endif
