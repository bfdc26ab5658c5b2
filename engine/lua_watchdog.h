/* lua_watchdog.h: the time limit on pipeline code. Each Lua host owns a
 * guard; the code it runs marks the start of every handler call with a
 * deadline (lua_guard_arm), and one process-wide watchdog thread looks at
 * every registered guard every LUA_WATCHDOG_TICK_MS. When a guard is inside
 * a host call and past its deadline (or flagged by its owner, e.g. after the
 * memory limit refused an allocation), the watchdog calls the guard's trip
 * function once, under the guard's lock. The guard knows nothing of Lua:
 * the host decides what tripping means (see lua_host.c). */
#ifndef ES_LUA_WATCHDOG_H
#define ES_LUA_WATCHDOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define LUA_WATCHDOG_TICK_MS 50

typedef enum lua_guard_reason {
    LUA_GUARD_NONE = 0,
    LUA_GUARD_TIMEOUT,  /* a handler call ran past its deadline */
    LUA_GUARD_MEMORY,   /* the state's memory limit refused an allocation */
} lua_guard_reason;

typedef struct lua_guard lua_guard;

/* Called by the watchdog thread with the guard's lock held, once per host
 * call at most. Must not block. */
typedef void (*lua_guard_trip_fn)(lua_guard *g, void *ud);

struct lua_guard {
    pthread_mutex_t lock;
    int in_call;                  /* guarded by lock */
    int tripped;                  /* lua_guard_reason, guarded by lock */
    _Atomic int64_t deadline_ms;  /* monotonic; 0 = no handler running */
    _Atomic int64_t timeout_ms;   /* limit of the current handler call */
    _Atomic int flagged;          /* lua_guard_reason asked by the owner */
    lua_guard_trip_fn trip;
    void *ud;
    lua_guard *next;              /* the watchdog's list */
};

/* Initialises g and registers it with the watchdog (starting the thread on
 * first use). 0, or -1 with a diag when the thread cannot start. */
int lua_guard_init(lua_guard *g, lua_guard_trip_fn trip, void *ud);

/* Unregisters g (after this returns the watchdog no longer touches it) and
 * destroys its lock. */
void lua_guard_destroy(lua_guard *g);

/* Brackets one host call (the only time the watchdog may trip g). end
 * returns the reason g tripped during the call, or LUA_GUARD_NONE, and
 * resets the guard for the next call. */
void lua_guard_begin(lua_guard *g);
lua_guard_reason lua_guard_end(lua_guard *g);

/* Starts a handler call of at most timeout_ms. Lock-free (one clock read,
 * two atomic stores): called once per handler call. */
void lua_guard_arm(lua_guard *g, int64_t timeout_ms);

/* Asks the watchdog to trip g at its next tick (from the guard's own
 * thread, where tripping directly is not allowed, e.g. in an allocator). */
void lua_guard_flag(lua_guard *g, lua_guard_reason reason);

#endif
