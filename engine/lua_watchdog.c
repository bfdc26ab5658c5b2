/* lua_watchdog.c: the process-wide thread that enforces handler time limits
 * on Lua hosts (see lua_watchdog.h). It wakes every LUA_WATCHDOG_TICK_MS,
 * so a handler is stopped at most one tick after its deadline, plus the time
 * the host's trip takes to reach the handler (one instruction, see
 * lua_host.c). The thread starts with the first guard and lives as long as
 * the process; with no host in a call it only reads a few atomics. */
#include "lua_watchdog.h"
#include "clock.h"
#include "diag.h"

#include <stddef.h>

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static lua_guard *guards;      /* guarded by registry_lock */
static int thread_started;     /* guarded by registry_lock */
static pthread_t watchdog_thread;

/* Trips g when it is inside a host call and past its deadline or flagged. */
static void check_guard(lua_guard *g, int64_t now)
{
    pthread_mutex_lock(&g->lock);
    if (g->in_call && g->tripped == LUA_GUARD_NONE) {
        int64_t deadline = atomic_load_explicit(&g->deadline_ms, memory_order_acquire);
        int flagged = atomic_load_explicit(&g->flagged, memory_order_acquire);
        if (flagged != LUA_GUARD_NONE) g->tripped = flagged;
        else if (deadline > 0 && now > deadline) g->tripped = LUA_GUARD_TIMEOUT;
        if (g->tripped != LUA_GUARD_NONE) g->trip(g, g->ud);
    }
    pthread_mutex_unlock(&g->lock);
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    for (;;) {
        clock_sleep_ms(LUA_WATCHDOG_TICK_MS);
        int64_t now = clock_monotonic_ms();
        pthread_mutex_lock(&registry_lock);
        for (lua_guard *g = guards; g; g = g->next) check_guard(g, now);
        pthread_mutex_unlock(&registry_lock);
    }
    return NULL;
}

int lua_guard_init(lua_guard *g, lua_guard_trip_fn trip, void *ud)
{
    pthread_mutex_init(&g->lock, NULL);
    g->in_call = 0;
    g->tripped = LUA_GUARD_NONE;
    atomic_init(&g->deadline_ms, 0);
    atomic_init(&g->timeout_ms, 0);
    atomic_init(&g->flagged, LUA_GUARD_NONE);
    g->trip = trip;
    g->ud = ud;
    pthread_mutex_lock(&registry_lock);
    if (!thread_started) {
        if (pthread_create(&watchdog_thread, NULL, watchdog_main, NULL) != 0) {
            pthread_mutex_unlock(&registry_lock);
            pthread_mutex_destroy(&g->lock);
            diag_set(DIAG_INTERNAL, "cannot start the Lua watchdog thread");
            return -1;
        }
        pthread_detach(watchdog_thread);
        thread_started = 1;
    }
    g->next = guards;
    guards = g;
    pthread_mutex_unlock(&registry_lock);
    return 0;
}

void lua_guard_destroy(lua_guard *g)
{
    pthread_mutex_lock(&registry_lock);
    for (lua_guard **p = &guards; *p; p = &(*p)->next) {
        if (*p == g) {
            *p = g->next;
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    pthread_mutex_destroy(&g->lock);
}

void lua_guard_begin(lua_guard *g)
{
    pthread_mutex_lock(&g->lock);
    g->in_call = 1;
    g->tripped = LUA_GUARD_NONE;
    atomic_store(&g->flagged, LUA_GUARD_NONE);
    atomic_store(&g->deadline_ms, 0);
    pthread_mutex_unlock(&g->lock);
}

lua_guard_reason lua_guard_end(lua_guard *g)
{
    pthread_mutex_lock(&g->lock);
    g->in_call = 0;
    int reason = g->tripped;
    if (reason == LUA_GUARD_NONE) reason = atomic_load(&g->flagged);
    g->tripped = LUA_GUARD_NONE;
    atomic_store(&g->flagged, LUA_GUARD_NONE);
    atomic_store(&g->deadline_ms, 0);
    pthread_mutex_unlock(&g->lock);
    return (lua_guard_reason)reason;
}

void lua_guard_arm(lua_guard *g, int64_t timeout_ms)
{
    atomic_store_explicit(&g->timeout_ms, timeout_ms, memory_order_relaxed);
    atomic_store_explicit(&g->deadline_ms, clock_monotonic_ms() + timeout_ms,
                          memory_order_release);
}

void lua_guard_flag(lua_guard *g, lua_guard_reason reason)
{
    int none = LUA_GUARD_NONE;
    atomic_compare_exchange_strong(&g->flagged, &none, (int)reason);
}
