/* engine.c: the engine's lifecycle and its API for the CLI, the web role and
 * the Lua test module (see engine.h): open backends and pipelines, send
 * commands, start and stop workers, drain synchronously, read stores. */
#include "engine_internal.h"
#include "backend_select.h"
#include "clock.h"
#include "diag.h"
#include "ids.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COMMANDS_COMPONENT "#commands"
#define WAIT_POLL_MS 20

void engine_options_default(es_engine_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->pipelines_dir = "./pipelines";
    opt->data_dir = "./esengine-data";
    opt->role = "all";
    opt->workers = 0;
    opt->batch_size = 256;
    opt->max_attempts = 10;
    opt->lease_ms = 10000;
    opt->retry_base_ms = 1000;
    opt->retry_max_ms = 300000;
    opt->handler_timeout_ms = 5000;
    opt->lua_memory_mb = 512;
    opt->inline_projections = 1;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void options_copy(es_engine_options *dst, const es_engine_options *src)
{
    *dst = *src;
    dst->pipelines_dir = dup_or_null(src->pipelines_dir);
    dst->only_pipeline = dup_or_null(src->only_pipeline);
    dst->data_dir = dup_or_null(src->data_dir);
    dst->redis_url = dup_or_null(src->redis_url);
    dst->clickhouse_url = dup_or_null(src->clickhouse_url);
    dst->role = dup_or_null(src->role ? src->role : "all");
    if (dst->workers <= 0) {
        /* With Redis, a worker spends much of its time waiting on Redis and
         * ClickHouse round trips: twice as many as cores keep the cores
         * busy (bench/clickhouse: ~1.1-1.2x end to end with 4 on 2 cores,
         * median of 7 alternated pairs). */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        dst->workers = cores > 0 ? (int)cores : 1;
        if (dst->redis_url && dst->redis_url[0]) dst->workers *= 2;
    }
    if (dst->batch_size <= 0) dst->batch_size = 256;
    if (dst->max_attempts <= 0) dst->max_attempts = 10;
    if (dst->lease_ms <= 0) dst->lease_ms = 10000;
}

static void options_free(es_engine_options *opt)
{
    free((char *)opt->pipelines_dir);
    free((char *)opt->only_pipeline);
    free((char *)opt->data_dir);
    free((char *)opt->redis_url);
    free((char *)opt->clickhouse_url);
    free((char *)opt->role);
}

es_engine *engine_open(const es_engine_options *opt)
{
    es_engine *e = calloc(1, sizeof *e);
    if (!e) {
        diag_set(DIAG_INTERNAL, "out of memory opening the engine");
        return NULL;
    }
    options_copy(&e->opt, opt);
    pthread_mutex_init(&e->control_lock, NULL);
    pthread_mutex_init(&e->pool_lock, NULL);
    pthread_mutex_init(&e->heartbeat_lock, NULL);
    pthread_mutex_init(&e->held_lock, NULL);
    pthread_cond_init(&e->heartbeat_cond, NULL);
    e->watch_fd = -1;
    char host[32] = "host", rnd[ID_HEX_LEN + 1];
    gethostname(host, sizeof host - 1);
    ids_random(rnd);
    snprintf(e->instance_id, sizeof e->instance_id, "%.20s-%d-%.6s", host, (int)getpid(), rnd);
    e->control = lua_host_new();
    if (!e->control) goto fail;
    lua_host_set_limits(e->control, e->opt.handler_timeout_ms, e->opt.lua_memory_mb);
    if (lua_host_load(e->control, e->opt.pipelines_dir, e->opt.only_pipeline) != 0) goto fail;
    if (backends_open(&e->opt, &e->backends) != 0) goto fail;
    return e;
fail:
    engine_close(e);
    return NULL;
}

void engine_close(es_engine *e)
{
    if (!e) return;
    engine_stop(e);
    /* Stores first: closing one that commits asynchronously reports the
     * writes still pending to the workers' deferred units, which the
     * workers then free. */
    if (e->backends.queue || e->backends.events) backends_close(&e->backends);
    for (int i = 0; i < e->n_workers; i++) worker_free(e->workers[i]);
    free(e->workers);
    worker_free(e->drain_worker);
    lua_host_free(e->control);
    control_pool_free(e);
    pthread_mutex_destroy(&e->control_lock);
    pthread_mutex_destroy(&e->pool_lock);
    pthread_mutex_destroy(&e->heartbeat_lock);
    for (int i = 0; i < e->n_held; i++) free(e->held[i]);
    pthread_mutex_destroy(&e->held_lock);
    pthread_cond_destroy(&e->heartbeat_cond);
    options_free(&e->opt);
    free(e);
}

int engine_start(es_engine *e)
{
    if (e->started) return 0;
    if (!e->workers) {
        e->workers = calloc((size_t)e->opt.workers, sizeof *e->workers);
        if (!e->workers) {
            diag_set(DIAG_INTERNAL, "out of memory starting workers");
            return -1;
        }
    }
    for (int i = e->n_workers; i < e->opt.workers; i++) {
        e->workers[i] = worker_new(e, i);
        if (!e->workers[i]) return -1;
        e->n_workers++;
    }
    atomic_store(&e->stopping, 0);
    for (int i = 0; i < e->n_workers; i++)
        if (worker_start(e->workers[i]) != 0) return -1;
    if (heartbeat_start(e) != 0) return -1;
    pthread_mutex_lock(&e->control_lock);
    reload_status_write(e, NULL);
    pthread_mutex_unlock(&e->control_lock);
    e->started = 1;
    log_info("engine %s: %d workers on %s", e->instance_id, e->n_workers,
             e->backends.queue->ops->name);
    return 0;
}

void engine_stop(es_engine *e)
{
    reload_watch_stop(e);
    if (!e->started) return;
    atomic_store(&e->stopping, 1);
    heartbeat_stop(e);
    for (int i = 0; i < e->n_workers; i++) worker_join(e->workers[i]);
    registry_beat_stopped(e);
    e->started = 0;
}

/* engine_send and engine_send_waitable: `waitable` sets the job's origin. */
static int send_command(es_engine *e, const char *tenant_id, const char *pipeline,
                        const char *command, const char *payload_json,
                        const char *job_id_hint, int waitable, char **job_id,
                        char **errors_json)
{
    char *aggregate_id = NULL, *command_json = NULL;
    *job_id = NULL;
    if (errors_json) *errors_json = NULL;
    if (!tenant_id || !*tenant_id) {
        diag_set(DIAG_INVALID, "a tenant is required");
        return -1;
    }
    control_lease lease;
    control_acquire(e, &lease);
    int rc = lua_host_prepare_command(lease.host, tenant_id, pipeline, command,
                                      payload_json, &aggregate_id, &command_json,
                                      errors_json);
    control_release(e, &lease);
    if (rc != 0) return -1;
    if (engine_pause_refuses(e, tenant_id, pipeline) != 0) {
        free(aggregate_id);
        free(command_json);
        return -1;
    }
    char id[ID_HEX_LEN + 1];
    int64_t now = clock_now_ms();
    if (job_id_hint) ids_derive(id, tenant_id, job_id_hint, 0);
    else ids_timed(id, now);
    es_job job = {
        .id = id,
        .kind = JOB_COMMAND,
        .tenant_id = (char *)tenant_id,
        .pipeline = (char *)pipeline,
        .component = (char *)command,
        .group_key = job_group_key(tenant_id, pipeline, COMMANDS_COMPONENT, aggregate_id),
        .origin_id = waitable ? id : NULL, /* the origin of its own work */
        .run_at = now,
        .payload = command_json,
        .payload_len = strlen(command_json),
        .fresh_id = job_id_hint == NULL,
    };
    /* a client's id names the same job whenever it is sent: it is
     * localized to the aggregate, like its events (ids.h); a new id is
     * timed, so the queue's id index grows at its right edge */
    if (job.group_key && job_id_hint) ids_localize(id, job.group_key);
    es_store *q = e->backends.queue;
    rc = job.group_key ? q->ops->queue_enqueue(q, &job, 1, now) : -1;
    free(job.group_key);
    free(aggregate_id);
    free(command_json);
    if (rc != 0) return -1;
    *job_id = strdup(id);
    return *job_id ? 0 : -1;
}

int engine_send(es_engine *e, const char *tenant_id, const char *pipeline,
                const char *command, const char *payload_json,
                const char *job_id_hint, char **job_id, char **errors_json)
{
    return send_command(e, tenant_id, pipeline, command, payload_json, job_id_hint, 0,
                        job_id, errors_json);
}

int engine_send_waitable(es_engine *e, const char *tenant_id, const char *pipeline,
                         const char *command, const char *payload_json,
                         const char *job_id_hint, char **job_id, char **errors_json)
{
    return send_command(e, tenant_id, pipeline, command, payload_json, job_id_hint, 1,
                        job_id, errors_json);
}

int engine_wait(es_engine *e, const char *job_id, int64_t timeout_ms)
{
    es_store *q = e->backends.queue;
    int64_t deadline = clock_monotonic_ms() + timeout_ms;
    unsigned mask = (1u << JOB_COMMAND) | (1u << JOB_FOLD);
    for (;;) {
        int64_t count = 0;
        if (q->ops->queue_origin_pending(q, job_id, mask, &count) != 0) return -1;
        if (count == 0) return 0;
        if (clock_monotonic_ms() >= deadline) {
            diag_set(DIAG_TIMEOUT, "job %s still has %lld unfinished jobs after %lld ms",
                     job_id, (long long)count, (long long)timeout_ms);
            return -1;
        }
        clock_sleep_ms(WAIT_POLL_MS);
    }
}

int engine_reload(es_engine *e)
{
    pthread_mutex_lock(&e->control_lock);
    int rc = lua_host_load(e->control, e->opt.pipelines_dir, e->opt.only_pipeline);
    char generation[64];
    snprintf(generation, sizeof generation, "%s", lua_host_generation(e->control));
    diag_code code = diag_code_get();
    char *error = rc != 0 ? strdup(diag_message()) : NULL;
    reload_status_write(e, error);
    if (error) diag_set(code, "%s", error);
    free(error);
    pthread_mutex_unlock(&e->control_lock);
    if (rc != 0) {
        log_error("reload of %s refused, keeping the running generation: %s",
                  e->opt.pipelines_dir, diag_message());
        return -1;
    }
    atomic_fetch_add(&e->reload_seq, 1);
    log_info("reloaded %s: generation %s", e->opt.pipelines_dir, generation);
    engine_resume_returned_pipelines(e);
    return 0;
}

int engine_watch(es_engine *e) { return reload_watch_start(e); }

/* Adds a queue row's jobs to *(int64_t *)ud (es_stats_cb). */
static int add_queued(void *ud, const es_queue_stats *r)
{
    *(int64_t *)ud += r->pending + r->delayed + r->in_flight + r->parked;
    return 0;
}

int64_t engine_jobs_queued(es_engine *e)
{
    es_store *q = e->backends.queue;
    int64_t queued = 0;
    return q->ops->queue_stats(q, clock_now_ms(), add_queued, &queued) == 0 ? queued : -1;
}

long engine_drain(es_engine *e)
{
    if (!e->drain_worker) {
        e->drain_worker = worker_new(e, -1);
        if (!e->drain_worker) return -1;
    }
    return worker_drain(e->drain_worker);
}

/* Looks up the store table of a fold or map through the control host. */
static int component_table(es_engine *e, const char *pipeline, const char *name,
                           int is_fold, es_component_info *info)
{
    pthread_mutex_lock(&e->control_lock);
    int rc = is_fold ? lua_host_fold_info(e->control, pipeline, name, info)
                     : lua_host_map_info(e->control, pipeline, name, info);
    pthread_mutex_unlock(&e->control_lock);
    if (rc == 0 && (info->custom || !info->table)) {
        lua_host_info_clear(info);
        diag_set(DIAG_NOT_FOUND, "%s %s/%s uses a custom Lua store the engine cannot read",
                 is_fold ? "fold" : "map", pipeline, name);
        return -1;
    }
    return rc;
}

int engine_state(es_engine *e, const char *tenant_id, const char *pipeline,
                 const char *fold, const char *key, char **state_json,
                 int64_t *last_seq)
{
    es_component_info info;
    if (component_table(e, pipeline, fold, 1, &info) != 0) return -1;
    int64_t seq = 0;
    es_store *s = e->backends.folds;
    int rc = s->ops->fold_get(s, tenant_id, info.table, key, state_json, &seq);
    if (last_seq) *last_seq = seq;
    lua_host_info_clear(&info);
    return rc;
}

int engine_records(es_engine *e, const char *tenant_id, const char *pipeline,
                   const char *map, size_t limit, es_record_cb cb, void *ud)
{
    es_component_info info;
    if (component_table(e, pipeline, map, 0, &info) != 0) return -1;
    es_store *s = e->backends.records;
    int rc = s->ops->record_list(s, tenant_id, info.table, limit, cb, ud);
    lua_host_info_clear(&info);
    return rc;
}

int engine_events(es_engine *e, const char *tenant_id, const char *aggregate_type,
                  const char *aggregate_id, es_event_cb cb, void *ud)
{
    es_store *s = e->backends.events;
    return s->ops->event_read(s, tenant_id, aggregate_type, aggregate_id, 0, 0, cb, ud);
}

es_backends *engine_backends(es_engine *e) { return &e->backends; }

char *engine_describe(es_engine *e)
{
    pthread_mutex_lock(&e->control_lock);
    char *json = lua_host_describe(e->control);
    pthread_mutex_unlock(&e->control_lock);
    return json;
}
