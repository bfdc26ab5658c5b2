/* worker.c: a worker thread's loop, and how one claimed batch is run: a
 * command batch appends events and enqueues their projection jobs; a fold
 * batch loads state once, applies many events, stores once and enqueues
 * reactor jobs; a map batch appends records; a reactor batch dispatches
 * commands. Each batch's writes and the completion of its claim form one
 * unit of work (atomic on SQLite; ordered events -> jobs -> completion
 * elsewhere). How a claim is completed or failed: claim_finish.c. */
#include "engine_internal.h"
#include "clock.h"
#include "claim_finish.h"
#include "claim_items.h"
#include "codec.h"
#include "deferred_ack.h"
#include "diag.h"
#include "ids.h"
#include "inline_projections.h"
#include "job_batch.h"
#include "log.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLAIM_WAIT_MS 200

struct worker {
    es_engine *engine;
    lua_host *host;
    char id[64];
    pthread_t thread;
    int thread_started;
    /* The claim in flight, for the heartbeat thread (guarded by lock). */
    pthread_mutex_t lock;
    es_claim *current;
    int reload_seen;   /* engine reload_seq this host was built for */
    /* The next batch, claimed inside the unit that finished the previous
     * one (same-store queue only): saves a write transaction per batch.
     * Valid when has_next; run by the next worker_step. */
    es_claim next;
    int has_next;
    deferred_list deferred; /* units waiting for durable writes (ClickHouse) */
    uint64_t units;         /* command units run: each one's rows scope */
};

/* Units a worker may leave waiting for durability before it stops claiming.
 * Memory is bounded first by the async store's buffers (backpressure stops
 * claims when they fill); this only caps the bookkeeping. Small batches
 * (many aggregates, few events each) need many units per flush interval:
 * at 64, 2 workers acknowledged at most ~640 batches/s. */
#define MAX_DEFERRED 1024

/* Writes of one unit at time `now` (one clock reading per unit, so jobs it
 * enqueues are due exactly when enqueued): store writes, plus jobs to
 * enqueue into *jobs. */
typedef int (*unit_writes)(worker *w, void *ud, int64_t now, job_batch *jobs);

/* 1 when the queue lives in the same store as the others, so one
 * transaction covers everything (SQLite, memory). */
static int queue_in_tx(const es_backends *b)
{
    return b->queue == b->events && b->queue == b->folds && b->queue == b->records;
}

/* Marks the jobs a unit derived as fresh (es_job.fresh_id) when the queue
 * shares the unit's transaction: they commit with the unit or not at all,
 * and a committed unit is not run again, so their ids cannot be queued
 * twice (command_writes enqueues none for events stored before). */
static void mark_fresh(const worker *w, job_batch *jobs)
{
    if (!queue_in_tx(&w->engine->backends)) return;
    for (size_t i = 0; i < jobs->len; i++) jobs->items[i].fresh_id = 1;
}

/* Claims the worker's next batch inside the open unit, so that it commits
 * with it (no transaction of its own). Not while stopping: a batch claimed
 * then would wait for its lease to expire. 0 or -1 (the unit must roll back:
 * a failed claim may have written part of its rows). */
static int claim_next_in_unit(worker *w, int64_t now)
{
    es_engine *e = w->engine;
    es_store *q = e->backends.queue;
    if (w->has_next || atomic_load(&e->stopping)) return 0;
    int rc = q->ops->queue_claim(q, w->id, (size_t)e->opt.batch_size, now, e->opt.lease_ms, 0,
                                 &w->next);
    if (rc < 0) return -1;
    w->has_next = rc == 0;
    return 0;
}

/* Forgets a next batch whose unit rolled back (its claim went with it). */
static void drop_next(worker *w)
{
    if (!w->has_next) return;
    store_claim_clear(&w->next);
    w->has_next = 0;
}

/* Runs `writes`, enqueues the jobs they produced and finishes the claim, as
 * one unit of work. When the queue shares the store (SQLite), the unit may
 * become durable together with the units after it (tx_commit_batched: a
 * crash loses them whole, claims included, and they are redone). When the
 * queue is a separate store (Redis) the order is
 * commit, then enqueue, then complete: a crash in between redelivers the
 * batch, and deterministic event and job ids make the redo idempotent. A
 * store that commits asynchronously (ClickHouse) gets the enqueue and
 * complete deferred until its writes are durable (deferred_ack.h), so the
 * worker is not held for a flush interval per batch. */
static int commit_unit(worker *w, const es_claim *c, unit_writes writes, void *ud,
                       size_t n_done, const char *error)
{
    es_backends *b = &w->engine->backends;
    es_store *q = b->queue;
    int64_t now = clock_now_ms();
    job_batch jobs = {0};
    int rc = -1, waits;
    if (backends_tx_begin(b) != 0) return -1;
    /* a stale claim fails before the unit writes (store.h) */
    if (queue_in_tx(b) && q->ops->queue_claim_current && q->ops->queue_claim_current(q, c) != 0)
        goto rollback;
    if (writes && writes(w, ud, now, &jobs) != 0) goto rollback;
    if (queue_in_tx(b)) {
        if ((jobs.len && q->ops->queue_enqueue(q, jobs.items, jobs.len, now) != 0) ||
            claim_finish(w->engine, c, n_done, error, now) != 0 || claim_next_in_unit(w, now) != 0)
            goto rollback;
        rc = backends_tx_commit_batched(b);
        if (rc != 0) drop_next(w);
    } else if ((waits = backends_async_count(b)) > 0) {
        deferred_unit *u = deferred_new(c, n_done, error, jobs.items, jobs.len, waits);
        memset(&jobs, 0, sizeof jobs); /* owned by the unit now */
        if (!u) goto rollback;
        if (backends_tx_commit_async(b, deferred_done, u) != 0) {
            deferred_discard(u);
            goto out;
        }
        deferred_push(&w->deferred, u);
        rc = 0;
    } else {
        if (backends_tx_commit(b) != 0) goto out;
        if (jobs.len && q->ops->queue_enqueue(q, jobs.items, jobs.len, now) != 0) goto out;
        rc = claim_finish(w->engine, c, n_done, error, now);
    }
    goto out;
rollback:
    backends_tx_rollback(b);
    drop_next(w);
out:
    job_batch_free(&jobs);
    return rc;
}

/* Acknowledges what became durable; holds the worker while too many units
 * are waiting (bounded memory when the store is slow). */
static void collect_deferred(worker *w)
{
    if (!w->deferred.count) return;
    deferred_collect(&w->deferred, claim_finish_durable, w->engine, 0);
    while (w->deferred.count >= MAX_DEFERRED)
        deferred_collect(&w->deferred, claim_finish_durable, w->engine, 50);
}

/* ---- commands ---- */

typedef struct command_unit {
    const char *pipeline;     /* of the claimed commands (one group) */
    es_event *events;
    size_t n_events;
    append_outcome *outcomes;
    es_new_event **per_event; /* routes of each event */
    const char **origins;     /* origin of each event's jobs */
    int64_t now;              /* the events' created_at */
    inline_plan *plan;        /* projections run ahead (inline_projections.h), or NULL */
} command_unit;

static int command_writes(worker *w, void *ud, int64_t now, job_batch *jobs)
{
    command_unit *u = ud;
    es_backends *b = &w->engine->backends;
    if (u->n_events &&
        b->events->ops->event_append(b->events, u->events, u->n_events, u->now, u->outcomes) != 0)
        return -1;
    int atomic = queue_in_tx(b);
    for (size_t i = 0; i < u->n_events; i++) {
        if (u->outcomes[i] == APPEND_NEW)
            metrics_inc(METRIC_EVENTS_APPENDED, u->pipeline, NULL, NULL);
        /* An event stored before (a client's command resent with its id)
         * got its projection jobs in the transaction that stored it: to
         * enqueue them again would fold it twice into a keyed fold, which
         * counts job positions, not seqs. Only a store that commits
         * events and jobs apart (Redis) must enqueue them again: a crash
         * may have come in between. */
        if (atomic && u->outcomes[i] == APPEND_RETRY) u->outcomes[i] = APPEND_DUPLICATE;
    }
    if (inline_projections_commit(u->plan, b, u->events, u->outcomes, u->origins, now, jobs) != 0)
        return -1;
    if (!atomic && w->engine->opt.inline_projections && backends_async_count(b) > 0) {
        inline_pauses pauses = {0}; /* read once for both */
        int rc = inline_maps_apply(b, w->host, u->events, u->outcomes, u->per_event,
                                   u->n_events, &pauses, now) != 0 ||
                         inline_folds_run(b, w->host, u->events, u->outcomes, u->per_event,
                                          u->origins, u->n_events, &pauses, now) != 0
                     ? -1
                     : 0;
        inline_pauses_clear(&pauses);
        if (rc != 0) return -1;
    }
    size_t fold_events = b->queue->ops->counts_items ? JOB_MAX_EVENTS : 1;
    if (job_batch_add_projections(jobs, u->events, u->per_event, u->origins, u->outcomes,
                                  u->n_events, fold_events, now) != 0)
        return -1;
    mark_fresh(w, jobs); /* jobs of new events only */
    return 0;
}

static int run_commands(worker *w, es_claim *c)
{
    claim_commands cmds;
    if (claim_commands_list(c, &cmds) != 0) {
        char *error = strdup(diag_message());
        int rc = commit_unit(w, c, NULL, NULL, 0, error);
        free(error);
        return rc;
    }
    es_new_event **results = calloc(cmds.n ? cmds.n : 1, sizeof *results);
    size_t *counts = calloc(cmds.n ? cmds.n : 1, sizeof *counts);
    size_t n_ok = 0, n_cmds_ok = 0, total = 0;
    char *error = NULL;
    int rc = -1;
    command_unit u = {.pipeline = c->jobs[0].pipeline};
    if (!results || !counts) goto out;
    if (lua_host_handle_commands(w->host, (const char *const *)cmds.json, cmds.n, results, counts,
                                 &n_cmds_ok) != 0) {
        const es_job *job = &c->jobs[cmds.job_of[n_cmds_ok]];
        error = strdup(diag_message());
        metrics_inc(METRIC_LUA_ERRORS, job->pipeline, job->component, NULL);
        log_error_limited("command_error", "command %s/%s job %s: %s", job->pipeline,
                          job->component, job->id, diag_message());
    }
    for (size_t i = 0; i < n_cmds_ok; i++) total += counts[i];
    /* A job is done when all its commands are: a failed one fails its job
     * whole (the redo derives the same event ids, so it dedupes), keeping
     * what a parked skip would leave of it (the other commands). */
    n_ok = n_cmds_ok < cmds.n ? cmds.job_of[n_cmds_ok] : c->n;
    if (n_ok < c->n) {
        size_t first_item = n_cmds_ok;
        while (first_item > 0 && cmds.job_of[first_item - 1] == n_ok) first_item--;
        if (claim_skip_command(&c->jobs[n_ok], n_cmds_ok - first_item) != 0) goto out;
    }
    u.events = calloc(total ? total : 1, sizeof *u.events);
    u.outcomes = calloc(total ? total : 1, sizeof *u.outcomes);
    u.per_event = calloc(total ? total : 1, sizeof *u.per_event);
    u.origins = calloc(total ? total : 1, sizeof *u.origins);
    if (!u.events || !u.outcomes || !u.per_event || !u.origins) goto out;
    size_t job_events = 0; /* events of the current job so far */
    for (size_t i = 0; i < n_cmds_ok && cmds.job_of[i] < n_ok; i++) {
        const es_job *job = &c->jobs[cmds.job_of[i]];
        if (i == 0 || cmds.job_of[i] != cmds.job_of[i - 1]) job_events = 0;
        for (size_t j = 0; j < counts[i]; j++) {
            es_event *ev = &u.events[u.n_events];
            /* Move the event out of the host result; ids are derived from
             * the command job so that a retry dedupes. */
            *ev = results[i][j].event;
            memset(&results[i][j].event, 0, sizeof results[i][j].event);
            char id[ID_HEX_LEN + 1];
            ids_derive(id, job->id, "event", job_events++);
            ids_localize(id, job->group_key);
            ev->id = strdup(id);
            if (!ev->idempotency_key) ev->idempotency_key = strdup(id);
            u.per_event[u.n_events] = &results[i][j];
            u.origins[u.n_events] = job->origin_id;
            u.n_events++;
            if (!ev->id || !ev->idempotency_key) goto out;
        }
    }
    u.now = clock_now_ms();
    /* u.events live unchanged through the unit: its maps and folds share
     * their Lua rows */
    lua_host_rows_scope(w->host, ++w->units);
    if (queue_in_tx(&w->engine->backends) && w->engine->opt.inline_projections)
        u.plan = inline_projections_prepare(&w->engine->backends, w->host, u.events, u.per_event,
                                            u.n_events, u.now);
    rc = commit_unit(w, c, command_writes, &u, n_ok, error);
    lua_host_rows_scope(w->host, 0);
out:
    inline_plan_free(u.plan);
    if (u.events) event_array_free(u.events, u.n_events);
    free(u.outcomes);
    free(u.per_event);
    free(u.origins);
    for (size_t i = 0; results && counts && i < cmds.n; i++)
        lua_host_new_events_free(results[i], counts[i]);
    free(results);
    free(counts);
    free(error);
    claim_commands_free(&cmds);
    return rc;
}

/* ---- folds ---- */

typedef struct fold_unit {
    const es_claim *claim;
    const es_component_info *info;
    es_event *events;      /* the claim's events to apply */
    size_t *claim_index;   /* index in the claim of each event */
    int64_t *positions;    /* last_seq value of each event */
    es_fold_result result;
} fold_unit;

static int fold_writes(worker *w, void *ud, int64_t now, job_batch *jobs)
{
    fold_unit *u = ud;
    es_backends *b = &w->engine->backends;
    const es_job *first = &u->claim->jobs[0];
    if (u->result.n_applied && u->result.state_json && !u->info->custom) {
        const es_event *last = &u->events[u->result.n_applied - 1];
        const char *key = u->info->keyed ? strrchr(first->group_key, '\x1f') + 1
                                         : last->aggregate_id;
        if (b->folds->ops->fold_put(b->folds, first->tenant_id, u->info->table, key,
                                    u->result.state_json,
                                    u->positions[u->result.n_applied - 1], now) != 0)
            return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < u->result.n_reactors && rc == 0; i++) {
        const es_reactor_job *rj = &u->result.reactors[i];
        const es_job *source = &u->claim->jobs[u->claim_index[rj->index]];
        rc = job_batch_add_reactor(jobs, rj, &u->events[rj->index], first->pipeline,
                                   source->origin_id, now);
    }
    /* reactor jobs of events applied now, for the first time */
    if (rc == 0) mark_fresh(w, jobs);
    return rc;
}

static int run_fold(worker *w, es_claim *c)
{
    es_backends *b = &w->engine->backends;
    const es_job *first = &c->jobs[0];
    es_component_info info;
    if (lua_host_fold_info(w->host, first->pipeline, first->component, &info) != 0) {
        char *error = strdup(diag_message());
        int rc = commit_unit(w, c, NULL, NULL, 0, error);
        free(error);
        return rc;
    }
    fold_unit u = {.claim = c, .info = &info};
    char *state = NULL, *error = NULL;
    int64_t last_seq = 0;
    int rc = -1;
    size_t n = 0, n_decoded = 0;
    if (!info.custom) {
        const char *key = strrchr(first->group_key, '\x1f') + 1;
        int got = b->folds->ops->fold_get(b->folds, first->tenant_id, info.table, key,
                                          &state, &last_seq);
        if (got < 0) goto out;
    }
    if (claim_events(c, &u.events, &u.claim_index, &n_decoded) != 0) goto out;
    u.positions = calloc(n_decoded ? n_decoded : 1, sizeof *u.positions);
    if (!u.positions) {
        n = n_decoded; /* cleared at out */
        goto out;
    }
    /* Redelivered events (seq <= last applied) are skipped: exactly-once. */
    for (size_t i = 0; i < n_decoded; i++) {
        size_t job = u.claim_index[i];
        int64_t position = info.keyed ? c->jobs[job].position : u.events[i].seq;
        if (!info.custom && position <= last_seq) {
            event_clear(&u.events[i]);
            continue;
        }
        u.events[n] = u.events[i];
        u.claim_index[n] = job;
        u.positions[n] = position;
        n++;
    }
    if (n > 0 &&
        lua_host_run_fold(w->host, first->pipeline, first->component, state, u.events, n,
                          &u.result) != 0)
        goto out;
    size_t n_done = c->n;
    if (u.result.error) {
        n_done = u.result.n_applied < n ? u.claim_index[u.result.n_applied] : c->n;
        error = u.result.error;
        if (n_done < c->n &&
            claim_skip_event(&c->jobs[n_done], u.events[u.result.n_applied].id) != 0)
            goto out;
        metrics_inc(METRIC_LUA_ERRORS, first->pipeline, first->component, NULL);
        log_error_limited("fold_error", "fold %s/%s: %s", first->pipeline,
                          first->component, error);
    }
    rc = commit_unit(w, c, fold_writes, &u, n_done, error);
out:
    if (rc != 0 && diag_code_get() != DIAG_CONFLICT)
        log_error_limited("fold_commit", "fold %s/%s: %s", first->pipeline,
                          first->component, diag_message());
    lua_host_fold_result_clear(&u.result);
    for (size_t i = 0; i < n; i++) event_clear(&u.events[i]);
    free(u.events);
    free(u.claim_index);
    free(u.positions);
    free(state);
    lua_host_info_clear(&info);
    return rc;
}

/* ---- maps ---- */

typedef struct map_unit {
    const es_claim *claim;
    const es_component_info *info;
    es_event *events;
    char **records;
    size_t n_done;
} map_unit;

static int map_writes(worker *w, void *ud, int64_t now, job_batch *jobs)
{
    (void)jobs;
    map_unit *u = ud;
    es_store *s = w->engine->backends.records;
    for (size_t i = 0; i < u->n_done; i++) {
        if (!u->records[i] || u->info->custom) continue;
        const es_event *ev = &u->events[i];
        if (s->ops->record_append(s, ev->tenant_id, u->info->table, ev->id,
                                  ev->aggregate_id, u->records[i], now) != 0)
            return -1;
    }
    return 0;
}

static int run_map(worker *w, es_claim *c)
{
    const es_job *first = &c->jobs[0];
    es_component_info info;
    if (lua_host_map_info(w->host, first->pipeline, first->component, &info) != 0) {
        char *error = strdup(diag_message());
        int rc = commit_unit(w, c, NULL, NULL, 0, error);
        free(error);
        return rc;
    }
    map_unit u = {.claim = c, .info = &info};
    size_t *job_of = NULL;
    char *error = NULL;
    int rc = -1;
    size_t n = 0;
    if (claim_events(c, &u.events, &job_of, &n) != 0) goto out;
    if (lua_host_run_map(w->host, first->pipeline, first->component, u.events, n,
                         &u.records, &u.n_done, &error) != 0)
        goto out;
    if (error) {
        metrics_inc(METRIC_LUA_ERRORS, first->pipeline, first->component, NULL);
        log_error_limited("map_error", "map %s/%s: %s", first->pipeline, first->component,
                          error);
    }
    /* the job of the failed event fails whole (records dedupe on its retry),
     * keeping what a parked skip would leave of it */
    if (error && u.n_done < n && claim_skip_event(&c->jobs[job_of[u.n_done]],
                                                  u.events[u.n_done].id) != 0)
        goto out;
    rc = commit_unit(w, c, map_writes, &u, u.n_done < n ? job_of[u.n_done] : c->n, error);
out:
    lua_host_strings_free(u.records, n);
    if (u.events) event_array_free(u.events, n);
    free(job_of);
    free(error);
    lua_host_info_clear(&info);
    return rc;
}

/* ---- reactors ---- */

typedef struct reactor_unit {
    job_batch commands;
} reactor_unit;

/* Hands the dispatched command jobs over to the unit's batch. */
static int reactor_writes(worker *w, void *ud, int64_t now, job_batch *jobs)
{
    (void)now;
    reactor_unit *u = ud;
    *jobs = u->commands;
    memset(&u->commands, 0, sizeof u->commands);
    mark_fresh(w, jobs);
    return 0;
}

static int run_reactors(worker *w, const es_claim *c)
{
    reactor_unit u = {0};
    char *error = NULL;
    size_t n_done = 0;
    int rc = -1;
    int64_t now = clock_now_ms();
    for (; n_done < c->n; n_done++) {
        const es_job *job = &c->jobs[n_done];
        es_event ev;
        char *state = NULL;
        if (codec_event_decode(job->payload, job->payload_len, &ev, &state) != 0) {
            error = strdup(diag_message());
            break;
        }
        es_dispatch *d = NULL;
        size_t nd = 0;
        int hrc = lua_host_run_reactor(w->host, job->pipeline, job->component, &ev, state,
                                       &d, &nd, &error);
        for (size_t k = 0; hrc == 0 && !error && k < nd; k++) {
            char id[ID_HEX_LEN + 1];
            ids_derive(id, job->id, "dispatch", k);
            if (job_batch_add_command(&u.commands, id, ev.tenant_id, d[k].pipeline,
                                      d[k].command, d[k].aggregate_id, d[k].command_json,
                                      now) != 0)
                hrc = -1;
        }
        lua_host_dispatches_free(d, nd);
        event_clear(&ev);
        free(state);
        if (hrc != 0 && !error) error = strdup(diag_message());
        if (error) {
            metrics_inc(METRIC_LUA_ERRORS, job->pipeline, job->component, NULL);
            log_error_limited("reactor_error", "reactor %s/%s: %s", job->pipeline,
                              job->component, error);
            break;
        }
    }
    rc = commit_unit(w, c, reactor_writes, &u, n_done, error);
    job_batch_free(&u.commands);
    free(error);
    return rc;
}

/* ---- the loop ---- */

static void worker_reload_if_needed(worker *w);

static int run_claim(worker *w, es_claim *c)
{
    int64_t started = clock_monotonic_ms();
    pthread_mutex_lock(&w->lock);
    w->current = c;
    pthread_mutex_unlock(&w->lock);
    int rc;
    /* A claim that waited may postdate a reload this host has not made: a
     * job sent after a reload runs with the scripts of that reload. */
    worker_reload_if_needed(w);
    if (!lua_host_has_pipeline(w->host, c->jobs[0].pipeline)) {
        /* Its folder was removed (or never loaded here): hold the pipeline
         * rather than fail its jobs into parking. */
        char error[512];
        snprintf(error, sizeof error, "pipeline %s is not loaded: its jobs are held until it is back",
                 c->jobs[0].pipeline);
        engine_hold_missing_pipeline(w->engine, c->jobs[0].pipeline);
        rc = commit_unit(w, c, NULL, NULL, 0, error);
    } else switch (c->jobs[0].kind) {
    case JOB_COMMAND: rc = run_commands(w, c); break;
    case JOB_FOLD: rc = run_fold(w, c); break;
    case JOB_MAP: rc = run_map(w, c); break;
    case JOB_REACTOR: rc = run_reactors(w, c); break;
    default:
        diag_set(DIAG_INTERNAL, "unknown job kind %d", c->jobs[0].kind);
        rc = -1;
    }
    pthread_mutex_lock(&w->lock);
    w->current = NULL;
    pthread_mutex_unlock(&w->lock);
    metrics_observe(METRIC_JOB_DURATION, (double)(clock_monotonic_ms() - started) / 1000.0,
                    c->jobs[0].pipeline, c->jobs[0].component, job_kind_name(c->jobs[0].kind));
    if (rc != 0) {
        /* The unit was rolled back; the lease expires and the batch is
         * redelivered (a stale token means another worker has it now). */
        if (diag_code_get() == DIAG_CONFLICT)
            log_warn_limited("stale_claim", "claim of %s lost its lease", job_kind_name(c->jobs[0].kind));
        else
            log_error_limited("unit_failed", "%s batch not committed: %s",
                              job_kind_name(c->jobs[0].kind), diag_message());
    }
    return rc;
}

/* Claims one batch and runs it. 1 when nothing was ready, 0 after a batch,
 * -1 on a claim error. */
/* Swaps in the engine's newest generation between batches. A failure (the
 * files changed again meanwhile) keeps the old one; the next reload retries. */
static void worker_reload_if_needed(worker *w)
{
    int seq = atomic_load(&w->engine->reload_seq);
    if (seq == w->reload_seen) return;
    w->reload_seen = seq;
    if (lua_host_load(w->host, w->engine->opt.pipelines_dir, w->engine->opt.only_pipeline) != 0)
        log_error("worker %s keeps generation %s: %s", w->id, lua_host_generation(w->host),
                  diag_message());
}

static int worker_step(worker *w, int wait_ms, size_t *jobs_run)
{
    es_engine *e = w->engine;
    collect_deferred(w);
    /* With units waiting, come back soon to acknowledge them. */
    if (w->deferred.count && wait_ms > 5) wait_ms = 5;
    worker_reload_if_needed(w);
    es_store *q = e->backends.queue;
    es_claim c = {0};
    int rc = 0;
    if (w->has_next) {
        c = w->next; /* claimed by the previous unit */
        memset(&w->next, 0, sizeof w->next);
        w->has_next = 0;
    } else {
        rc = q->ops->queue_claim(q, w->id, (size_t)e->opt.batch_size, clock_now_ms(),
                                 e->opt.lease_ms, wait_ms, &c);
    }
    if (rc != 0) return rc;
    run_claim(w, &c);
    if (jobs_run) *jobs_run += c.n;
    store_claim_clear(&c);
    return 0;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    int64_t backoff = 50;
    while (!atomic_load(&w->engine->stopping)) {
        if (backends_busy(&w->engine->backends)) {
            /* backpressure: a store cannot keep up (ClickHouse slow or
             * down); claim nothing until it can, so memory stays bounded */
            collect_deferred(w);
            clock_sleep_ms(CLAIM_WAIT_MS / 4);
            continue;
        }
        int rc = worker_step(w, CLAIM_WAIT_MS, NULL);
        if (rc < 0) {
            log_error_limited("claim_failed", "worker %s: claim failed: %s", w->id,
                              diag_message());
            clock_sleep_ms(backoff);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        } else {
            backoff = 50;
        }
    }
    /* Stopping: run a batch claimed by the last unit before `stopping` was
     * seen, acknowledge what becomes durable in time; the rest is
     * redelivered after its lease. */
    if (w->has_next) worker_step(w, 0, NULL);
    deferred_collect(&w->deferred, claim_finish_durable, w->engine, w->engine->opt.lease_ms);
    return NULL;
}

worker *worker_new(es_engine *e, int index)
{
    worker *w = calloc(1, sizeof *w);
    if (!w) {
        diag_set(DIAG_INTERNAL, "out of memory creating a worker");
        return NULL;
    }
    w->engine = e;
    snprintf(w->id, sizeof w->id, "%s/%d", e->instance_id, index);
    pthread_mutex_init(&w->lock, NULL);
    deferred_list_init(&w->deferred);
    w->reload_seen = atomic_load(&e->reload_seq);
    w->host = lua_host_new();
    if (w->host) lua_host_set_limits(w->host, e->opt.handler_timeout_ms, e->opt.lua_memory_mb);
    if (!w->host || lua_host_load(w->host, e->opt.pipelines_dir, e->opt.only_pipeline) != 0) {
        worker_free(w);
        return NULL;
    }
    return w;
}

/* deferred_finish_fn for units left at exit: their stores are closed. */
static void finish_nothing(void *ctx, const deferred_ready *units, size_t n)
{
    (void)ctx, (void)units, (void)n;
}

void worker_free(worker *w)
{
    if (!w) return;
    if (deferred_collect(&w->deferred, finish_nothing, NULL, 0) > 0)
        log_warn("worker %s: %zu batches still waiting for their store at exit", w->id,
                 w->deferred.count);
    drop_next(w); /* never run: its lease expires and it is redelivered */
    lua_host_free(w->host);
    pthread_mutex_destroy(&w->lock);
    deferred_list_destroy(&w->deferred);
    free(w);
}

int worker_start(worker *w)
{
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        diag_set(DIAG_INTERNAL, "cannot start worker thread");
        return -1;
    }
    w->thread_started = 1;
    return 0;
}

void worker_join(worker *w)
{
    if (w->thread_started) pthread_join(w->thread, NULL);
    w->thread_started = 0;
}

long worker_drain(worker *w)
{
    size_t jobs = 0;
    for (;;) {
        int rc = worker_step(w, 0, &jobs);
        if (rc == 1 && w->deferred.count)
            deferred_collect(&w->deferred, claim_finish_durable, w->engine, w->engine->opt.lease_ms);
        else if (rc == 1)
            return (long)jobs;
        if (rc < 0) return -1;
    }
}

/* Extends the lease of one claim of worker ud. A conflict is usually a
 * batch that just completed (its group may already be claimed again); the
 * worker itself finds out at commit. */
static void extend_claim(void *ud, es_claim *claim)
{
    worker *w = ud;
    es_store *q = w->engine->backends.queue;
    if (q->ops->queue_extend(q, claim, clock_now_ms(), w->engine->opt.lease_ms) != 0 &&
        diag_code_get() != DIAG_CONFLICT)
        log_warn_limited("heartbeat", "worker %s: lease not extended: %s", w->id,
                         diag_message());
}

void worker_heartbeat(worker *w)
{
    if (!w->engine->backends.queue->ops->queue_extend) return;
    pthread_mutex_lock(&w->lock);
    if (w->current) extend_claim(w, w->current);
    pthread_mutex_unlock(&w->lock);
    /* units waiting for durable writes keep their groups too */
    deferred_each_claim(&w->deferred, extend_claim, w);
}
