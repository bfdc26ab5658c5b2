/* engine_internal.h: the engine's state, shared by engine.c (lifecycle, send,
 * reads), worker.c (running claims) and heartbeat.c. Not for other callers:
 * they use engine.h. */
#ifndef ES_ENGINE_INTERNAL_H
#define ES_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine.h"
#include "lua_host.h"
#include "store.h"

typedef struct worker worker;

struct es_engine {
    es_engine_options opt;  /* strings owned (strdup'd) */
    es_backends backends;
    char instance_id[40];   /* "<host>-<pid>-<random>", names workers */

    /* The control host answers state/describe/reload for any thread. */
    lua_host *control;
    pthread_mutex_t control_lock;

    /* Idle hosts of the pool that validates and converts what is sent
     * (control_pool.c), so sending threads run Lua in parallel. */
    pthread_mutex_t pool_lock;
    struct pooled_host *pool;
    pthread_cond_t pool_cv;     /* a lease came back */
    int pool_cv_ready;          /* pool_cv initialised (on first acquire) */
    int pool_lent;              /* leases out now (control_acquire) */
    int pool_max;               /* leases out at most: the cores, 2 at least */

    worker **workers;
    int n_workers;
    worker *drain_worker;   /* created on first engine_drain */
    atomic_int stopping;
    /* Pipelines this process paused because its workers met jobs of a
     * pipeline no longer loaded (its folder removed): their jobs stay
     * queued, and a reload that brings the pipeline back resumes them. */
    pthread_mutex_t held_lock;
    char *held[32];
    int n_held;

    /* engine_pause_refuses' cache: --reject pauses seen at reject_checked_at
     * (monotonic ms). */
    atomic_int reject_pauses;
    _Atomic int64_t reject_checked_at;
    int started;

    /* Hot reload: the control host validates a new generation, then bumps
     * reload_seq; each worker rebuilds its host between batches. */
    atomic_int reload_seq;
    pthread_t watch_thread;
    int watch_fd;           /* inotify fd, -1 when not watching */
    int watch_pipe[2];      /* wakes the watcher to stop */

    /* Heartbeat: extends the leases of claims in flight and beats the
     * worker registry (registry.c). */
    pthread_t heartbeat_thread;
    pthread_mutex_t heartbeat_lock;
    pthread_cond_t heartbeat_cond;

    /* Worker registry: jobs completed by this process's workers (bumped by
     * each finished claim), when the heartbeat started, and the jobs/s
     * rate with the start of its window (heartbeat thread only). */
    atomic_llong jobs_done;
    int64_t started_at;
    int64_t rate_from_jobs, rate_from_at;
    double rate;
};

/* ---- worker.c ---- */

/* Creates a worker with its own Lua host loaded from the engine's pipelines
 * dir. NULL with a diag. */
worker *worker_new(es_engine *e, int index);
void worker_free(worker *w);

/* Starts / joins the worker's thread (it loops until e->stopping). */
int worker_start(worker *w);
void worker_join(worker *w);

/* Claims and runs ready batches in the calling thread until none is ready.
 * Returns jobs processed, or -1 on a backend error. */
long worker_drain(worker *w);

/* Extends the lease of the worker's claim in flight, if any (called by the
 * heartbeat thread). */
void worker_heartbeat(worker *w);

/* ---- control_pool.c ---- */

/* A host lent to one thread for validating and converting commands. */
typedef struct control_lease {
    lua_host *host;
    struct pooled_host *pooled; /* NULL: the control host, control_lock held */
} control_lease;

/* Lends an idle pooled host, creating one when none is idle; a host loaded
 * before the last successful reload (reload_seq) loads the pipelines dir
 * again first. When that load fails (the dir broken since the reload), lends
 * the control host, which holds the last valid generation, with
 * control_lock held. At most as many leases as cores (2 at least) are out
 * at once (an HTTP thread per connection: the cap bounds the hosts'
 * memory, and more Lua at once than cores only slices the same CPU, among
 * others with the thread committing for them); beyond that it waits for
 * one to come back. Never fails. Return it with control_release. */
void control_acquire(es_engine *e, control_lease *lease);
void control_release(es_engine *e, control_lease *lease);

/* Frees the idle hosts (engine_close, no lease out). */
void control_pool_free(es_engine *e);

/* ---- pause.c ---- */

/* -1 with DIAG_BUSY naming the pause when a --reject pause covers commands
 * of (tenant, pipeline); 0 otherwise (also when the queue cannot pause). */
int engine_pause_refuses(es_engine *e, const char *tenant_id, const char *pipeline);

/* Holds (pauses, all tenants) a pipeline whose jobs a worker met while it is
 * not loaded, once, with a log line saying so. */
void engine_hold_missing_pipeline(es_engine *e, const char *pipeline);

/* Resumes the pipelines engine_hold_missing_pipeline held that the control
 * host has loaded again (after a reload). */
void engine_resume_returned_pipelines(es_engine *e);

/* ---- reload.c ---- */

/* Watches the pipelines dir (inotify, every subfolder) and calls
 * engine_reload after a short quiet period. 0 or -1. */
int reload_watch_start(es_engine *e);
void reload_watch_stop(es_engine *e);

/* ---- registry.c ---- */

/* How often a process beats the worker registry (more often when a third
 * of the lease is shorter, so "lost" always means several missed beats). */
#define REGISTRY_BEAT_MS 1000
/* The jobs/s rate covers the last 1 to REGISTRY_RATE_WINDOW_MS. */
#define REGISTRY_RATE_WINDOW_MS 10000

/* Writes this process's entry in the queue store's worker registry (when
 * the store has one): identity, role, threads, jobs done and their rate
 * since the previous beat, loaded script generation. Called by the
 * heartbeat thread; a failure is logged (rate-limited), never fatal. */
void registry_beat(es_engine *e);

/* The last beat of a process whose workers stopped cleanly: threads 0,
 * which status shows as "stopped" (not "lost") until the entry is pruned. */
void registry_beat_stopped(es_engine *e);

/* ---- reload_status.c ---- */

/* Rewrites <data>/esengine.status.json from the control host's generation
 * (call with control_lock held); error is why the last reload was refused,
 * or NULL. Failures are logged, never fatal. */
void reload_status_write(es_engine *e, const char *error);

/* ---- heartbeat.c ---- */

int heartbeat_start(es_engine *e);
void heartbeat_stop(es_engine *e);

#endif
