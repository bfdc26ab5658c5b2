/* registry.c: this process's entry in the worker registry (store.h
 * worker_beat), written by the heartbeat thread, so `status` and /metrics
 * see every worker process sharing the queue, its rate and its script
 * generation. */
#include "engine_internal.h"
#include "clock.h"
#include "diag.h"
#include "log.h"

#include <stdio.h>
#include <unistd.h>

/* Writes the entry with `threads` worker threads running. */
static void beat(es_engine *e, int threads)
{
    es_store *q = e->backends.queue;
    if (!q || !q->ops->worker_beat) return;
    char host[256] = "host", generation[64];
    gethostname(host, sizeof host - 1);
    pthread_mutex_lock(&e->control_lock);
    snprintf(generation, sizeof generation, "%s", lua_host_generation(e->control));
    pthread_mutex_unlock(&e->control_lock);
    int64_t now = clock_now_ms();
    int64_t jobs = (int64_t)atomic_load(&e->jobs_done);
    if (e->rate_from_at < e->started_at) {
        e->rate_from_at = e->started_at;
        e->rate_from_jobs = jobs;
    }
    int64_t span = now - e->rate_from_at;
    if (span >= REGISTRY_BEAT_MS)
        e->rate = (double)(jobs - e->rate_from_jobs) * 1000.0 / (double)span;
    if (span >= REGISTRY_RATE_WINDOW_MS) {
        e->rate_from_at = now;
        e->rate_from_jobs = jobs;
    }
    es_worker_info w = {
        .id = e->instance_id,
        .host = host,
        .pid = (int64_t)getpid(),
        .role = e->opt.role,
        .threads = threads,
        .jobs_done = jobs,
        .jobs_per_s = e->rate,
        .generation = generation,
        .started_at = e->started_at,
        .lease_ms = e->opt.lease_ms,
    };
    if (q->ops->worker_beat(q, &w, now) != 0)
        log_warn_limited("registry_beat", "worker registry beat: %s", diag_message());
}

void registry_beat(es_engine *e) { beat(e, e->n_workers); }

void registry_beat_stopped(es_engine *e) { beat(e, 0); }
