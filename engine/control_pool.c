/* control_pool.c: the pool of Lua hosts that validate and convert what is
 * sent (engine_send, engine_otlp_ingest), so HTTP threads run that Lua in
 * parallel instead of queueing on the control host's lock.
 *
 * Hosts are created on demand (as many as threads send at once) and follow
 * hot reloads lazily: a host built before the last successful reload
 * (reload_seq) loads the pipelines dir again when it is next lent, as
 * workers do between batches. If that load fails (the files broke again
 * since the reload was validated), the control host, which holds the last
 * valid generation, is lent instead, under control_lock, until the next
 * reload. */
#include "engine_internal.h"
#include "diag.h"
#include "log.h"

#include <stdlib.h>
#include <unistd.h>

typedef struct pooled_host {
    lua_host *host;
    int seq;        /* reload_seq the host was loaded for */
    int failed;     /* loading for seq failed: the host must not be lent */
    struct pooled_host *next;
} pooled_host;

static void pooled_free(pooled_host *p)
{
    lua_host_free(p->host);
    free(p);
}

/* A new host loaded from the pipelines dir, or NULL (logged). */
static pooled_host *pooled_new(es_engine *e)
{
    pooled_host *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->seq = atomic_load(&e->reload_seq);
    p->host = lua_host_new();
    if (p->host) lua_host_set_limits(p->host, e->opt.handler_timeout_ms, e->opt.lua_memory_mb);
    if (!p->host || lua_host_load(p->host, e->opt.pipelines_dir, e->opt.only_pipeline) != 0) {
        log_error_limited("control_pool", "cannot build a Lua host for sends: %s",
                          diag_message());
        pooled_free(p);
        return NULL;
    }
    return p;
}

/* Brings p to the current generation; 0, or -1 when it must not be lent. */
static int pooled_refresh(es_engine *e, pooled_host *p)
{
    int seq = atomic_load(&e->reload_seq);
    if (seq != p->seq) {
        p->seq = seq;
        p->failed = lua_host_load(p->host, e->opt.pipelines_dir, e->opt.only_pipeline) != 0;
        if (p->failed)
            log_error_limited("control_pool", "a send host keeps generation %s: %s",
                              lua_host_generation(p->host), diag_message());
    }
    return p->failed ? -1 : 0;
}

/* Gives back a slot taken by control_acquire. */
static void pool_slot_return(es_engine *e)
{
    pthread_mutex_lock(&e->pool_lock);
    e->pool_lent--;
    pthread_cond_signal(&e->pool_cv);
    pthread_mutex_unlock(&e->pool_lock);
}

void control_acquire(es_engine *e, control_lease *lease)
{
    pthread_mutex_lock(&e->pool_lock);
    if (!e->pool_cv_ready) {
        pthread_cond_init(&e->pool_cv, NULL);
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        e->pool_max = cores > 2 ? (int)cores : 2;
        e->pool_cv_ready = 1;
    }
    while (e->pool_lent >= e->pool_max) pthread_cond_wait(&e->pool_cv, &e->pool_lock);
    e->pool_lent++;
    pooled_host *p = e->pool;
    if (p) e->pool = p->next;
    pthread_mutex_unlock(&e->pool_lock);
    if (!p) p = pooled_new(e);
    if (p && pooled_refresh(e, p) == 0) {
        lease->host = p->host;
        lease->pooled = p;
        return;
    }
    if (p) {
        lease->pooled = p;
        control_release(e, lease);
    } else {
        pool_slot_return(e);
    }
    pthread_mutex_lock(&e->control_lock);
    lease->host = e->control;
    lease->pooled = NULL;
}

void control_release(es_engine *e, control_lease *lease)
{
    pooled_host *p = lease->pooled;
    if (!p) {
        pthread_mutex_unlock(&e->control_lock);
    } else {
        pthread_mutex_lock(&e->pool_lock);
        p->next = e->pool;
        e->pool = p;
        e->pool_lent--;
        pthread_cond_signal(&e->pool_cv);
        pthread_mutex_unlock(&e->pool_lock);
    }
    lease->host = NULL;
    lease->pooled = NULL;
}

void control_pool_free(es_engine *e)
{
    if (e->pool_cv_ready) pthread_cond_destroy(&e->pool_cv);
    e->pool_cv_ready = 0;
    while (e->pool) {
        pooled_host *p = e->pool;
        e->pool = p->next;
        pooled_free(p);
    }
}
