/* store.h: the backend seam. A store object implements one or more of the
 * four kinds the engine needs, through one vtable:
 *
 *   event log      append events (assign seq, dedupe idempotency keys), read
 *   job queue      per-group FIFO with batch claims, leases, delays, dedup,
 *                  retries, parking
 *   fold store     state JSON + last applied seq per (tenant, table, key)
 *   record store   append-only map records, deduped by (table, record id)
 *
 * Backends: sqlite (embedded, all four kinds in one database), memory (all
 * four, in-process, for tests), redis (queue; fold state of record),
 * clickhouse (event log, queryable projection tables). A kind a backend does
 * not implement has NULL function pointers. The engine holds one store per
 * kind (es_backends); several kinds may point at the same object.
 *
 * Threads: every function may be called from any worker thread at the same
 * time; backends keep per-thread connections internally.
 *
 * Units of work: tx_begin/tx_commit/tx_rollback bracket the writes of one
 * job batch. The engine calls them on every distinct store it writes to. A
 * backend that holds several kinds in one database (sqlite) makes the whole
 * unit atomic; others may implement them as no-ops, in which case the engine
 * orders its writes so that a crash between them is recoverable (events
 * first, then jobs, then the completion of the claim).
 *
 * Errors: functions return 0 on success and -1 on failure with a diag set
 * (diag.h); functions documented to return 1 use it for "none". */
#ifndef ES_STORE_H
#define ES_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/event.h"
#include "../engine/job.h"

typedef struct es_store es_store;

/* One claimed batch: up to max_jobs consecutive jobs at the head of one
 * group, with the fencing token of this claim. Owned by the caller after
 * claim; free with store_claim_clear. */
typedef struct es_claim {
    char *group_key;
    int64_t token;     /* fencing token: completes with an older token fail */
    int64_t lease_until;
    es_job *jobs;
    size_t n;
} es_claim;

/* Per-event outcome of event_append. */
typedef enum {
    APPEND_NEW = 1,     /* stored now; seq and created_at were assigned */
    APPEND_RETRY = 2,   /* an event with the same id is already stored (a
                           retried command): seq/created_at are filled from it
                           and its jobs should be enqueued again (idempotent) */
    APPEND_DUPLICATE = 3 /* another event with the same idempotency key is
                            stored for that aggregate: nothing to do */
} append_outcome;

/* One row of queue statistics, per (pipeline, component, kind). */
typedef struct es_queue_stats {
    const char *pipeline;
    const char *component;
    job_kind kind;
    int64_t pending;     /* ready now */
    int64_t delayed;     /* run_at in the future (includes retry backoff) */
    int64_t in_flight;   /* in claimed groups */
    int64_t parked;      /* jobs in parked groups */
    int64_t parked_groups;
    int64_t oldest_pending_at; /* enqueue time (ms) of the oldest pending job, 0 if none */
} es_queue_stats;

/* One parked group, as listed by parked_list. */
typedef struct es_parked_group {
    const char *group_key;
    const char *tenant_id;
    const char *pipeline;
    const char *component;
    const es_job *head;   /* the job that failed; head->last_error, attempts */
    int64_t jobs_waiting; /* jobs in the group, including the head */
    int64_t parked_at;
} es_parked_group;

/* Kill switch modes (pause_set). HOLD: jobs stay queued and are not
 * claimed; REJECT: the same, and new commands to the pipeline are refused. */
typedef enum { PAUSE_NONE = 0, PAUSE_HOLD = 1, PAUSE_REJECT = 2 } pause_mode;

/* One pause, as listed by pause_list. tenant_id NULL: every tenant;
 * component NULL: the whole pipeline (commands, folds, maps, reactors). A
 * component is a group component: a fold, map or reactor name, or
 * "#commands" for the pipeline's command handling. */
typedef struct es_pause {
    const char *tenant_id;
    const char *pipeline;
    const char *component;
    pause_mode mode;
    int64_t paused_at;
} es_pause;

/* Progress of a replay, kept by the backend so that a killed replay resumes
 * (replay_checkpoint_*). after_* is the last aggregate fully folded into the
 * shadow (empty strings before the first). */
typedef struct es_replay_checkpoint {
    const char *tenant_id;      /* scope, "" = every tenant */
    const char *after_tenant;
    const char *after_aggregate;
    int64_t events_done;
    int64_t started_at;
    int paused_fold;            /* the replay paused the fold for its swap */
} es_replay_checkpoint;

/* One engine process in the worker registry (worker_beat / worker_list).
 * A beat replaces the whole entry; last_beat and lost are set by
 * worker_list. */
typedef struct es_worker_info {
    const char *id;         /* engine instance id "<host>-<pid>-<random>" */
    const char *host;
    int64_t pid;
    const char *role;       /* "all", "worker" */
    int threads;            /* worker threads */
    int64_t jobs_done;      /* jobs completed by the process since started_at */
    double jobs_per_s;      /* rate over the last beat interval */
    const char *generation; /* loaded script generation hash */
    int64_t started_at;
    int64_t lease_ms;       /* the process's lease: lost after 3 of them */
    int64_t last_beat;      /* time of the last beat (ms) */
    int lost;               /* no beat for STORE_WORKER_LOST_LEASES leases */
} es_worker_info;

/* A worker is reported lost when no beat came for this many of its leases
 * (its claims have expired by then), and forgotten (pruned by worker_list)
 * STORE_WORKER_PRUNE_MS after that. */
#define STORE_WORKER_LOST_LEASES 3
#define STORE_WORKER_PRUNE_MS INT64_C(3600000)

/* 1 when an entry beaten at last_beat with lease_ms is lost at now; 2 when
 * it is old enough to be pruned (also lost); 0 when alive. */
int store_worker_age_state(int64_t last_beat, int64_t lease_ms, int64_t now);

typedef int (*es_event_cb)(void *ud, const es_event *ev);        /* nonzero stops */
typedef int (*es_pause_cb)(void *ud, const es_pause *pause);
/* A fold row: state and last applied seq of (tenant, table, key). */
typedef int (*es_fold_cb)(void *ud, const char *tenant_id, const char *key,
                          const char *state_json, int64_t last_seq);
typedef int (*es_stats_cb)(void *ud, const es_queue_stats *row);
typedef int (*es_parked_cb)(void *ud, const es_parked_group *group);
typedef int (*es_worker_cb)(void *ud, const es_worker_info *w);
typedef int (*es_record_cb)(void *ud, const char *record_id,
                            const char *aggregate_id, const char *record_json,
                            int64_t created_at);

typedef struct es_store_ops {
    const char *name; /* "sqlite", "memory", "redis", "clickhouse" */

    /* Queue stores: 1 when queue_stats counts the items of jobs (es_job
     * items) rather than jobs; the engine then puts several events in one
     * fold job. */
    int counts_items;

    /* Releases everything; pending buffered writes are flushed first. */
    void (*close)(es_store *s);

    /* ---- units of work (may be no-ops) ---- */
    int (*tx_begin)(es_store *s);
    int (*tx_commit)(es_store *s);
    void (*tx_rollback)(es_store *s);

    /* Optional: commits the calling thread's unit like tx_commit, except
     * that the store may keep it in a transaction shared with the units
     * that follow and make them durable together: within the store's
     * batch limits (milliseconds), before any other write of the process,
     * and before a claim that finds nothing waits. Until then this process
     * sees the unit and other processes do not; a crash loses it whole,
     * with the completion of its claim (so the claim is redelivered).
     * 0, or -1 with a diag (the unit is undone). */
    int (*tx_commit_batched)(es_store *s);

    /* Optional: commits the calling thread's unit without waiting for
     * durability; done(ud, 0) is called once its writes are durable (from
     * any thread), done(ud, -1) when they never will be (close). Exactly
     * once. 0, or -1 with a diag (done is then not called). */
    int (*tx_commit_async)(es_store *s, void (*done)(void *ud, int status), void *ud);

    /* Backpressure (optional, NULL = never busy): 1 while the store asks
     * the engine to claim no new work (its write buffers are nearly full,
     * or its server is failing writes), 0 otherwise. Cheap: no I/O. */
    int (*busy)(es_store *s);

    /* ---- event log ---- */

    /* Appends `n` events of possibly several aggregates. For each event,
     * outcomes[i] tells what happened (see append_outcome). New events get
     * seq = last seq of their aggregate + 1 (in array order) and created_at =
     * `now`. id and idempotency_key must be set by the caller. */
    int (*event_append)(es_store *s, es_event *events, size_t n, int64_t now,
                        append_outcome *outcomes);

    /* Calls cb for the events of one aggregate with seq > after_seq, in seq
     * order, at most `limit` (0 = all). Tenant-scoped: events of another
     * tenant are never visible. */
    int (*event_read)(es_store *s, const char *tenant_id,
                      const char *aggregate_type, const char *aggregate_id,
                      int64_t after_seq, size_t limit, es_event_cb cb, void *ud);

    /* Calls cb for the events of `aggregate_type` ordered by (tenant_id,
     * aggregate_id, seq), starting strictly after the aggregate
     * (after_tenant, after_aggregate) (NULL or "" = from the start), at most
     * `limit` events; only one tenant's when tenant_id is not NULL, only
     * events created at or after since_ms (0 = all). One ordered range read
     * per call (the replay reads the log in large pages); a page may end
     * inside an aggregate: the caller continues with event_read. Optional
     * (NULL when the backend cannot scan). */
    int (*event_scan)(es_store *s, const char *tenant_id, const char *aggregate_type,
                      const char *after_tenant, const char *after_aggregate,
                      int64_t since_ms, size_t limit, es_event_cb cb, void *ud);

    /* The seq of the last event of one aggregate into *seq (0 when it has
     * none). Optional (NULL: the worker applies no projection in its
     * command's unit, inline_projections.h). */
    int (*event_last_seq)(es_store *s, const char *tenant_id, const char *aggregate_type,
                          const char *aggregate_id, int64_t *seq);

    /* Number of events of `aggregate_type` (one tenant's when tenant_id is
     * not NULL) created at or after since_ms. Optional. */
    int (*event_count)(es_store *s, const char *tenant_id, const char *aggregate_type,
                       int64_t since_ms, int64_t *count);

    /* ---- job queue ---- */

    /* Enqueues jobs in array order (FIFO within each group), honouring id
     * idempotency and dedup modes. `now` is the enqueue time. */
    int (*queue_enqueue)(es_store *s, const es_job *jobs, size_t n, int64_t now);

    /* Claims up to max_jobs consecutive ready jobs at the head of one ready
     * group (fair across groups), leasing the group for lease_ms. Waits up to
     * wait_ms for work (0 = do not wait). Returns 0 with out filled, 1 when
     * nothing was ready, -1 on error. Jobs with run_at > now are not ready,
     * and a group whose head is not ready is not ready. */
    int (*queue_claim)(es_store *s, const char *worker_id, size_t max_jobs,
                       int64_t now, int64_t lease_ms, int wait_ms, es_claim *out);

    /* Extends the lease of a claim (heartbeat). -1 with DIAG_CONFLICT when
     * the claim's token is stale. */
    int (*queue_extend)(es_store *s, es_claim *claim, int64_t now, int64_t lease_ms);

    /* 0 when `claim` is still its group's current claim, -1 with
     * DIAG_CONFLICT when its token is stale (or a backend error). Optional;
     * a store whose failing unit undoes more than the unit (SQLite's
     * batches of units, sqlite_units.c) has the worker ask before the unit
     * writes, so that a stale claim fails without undoing the units
     * batched before it. */
    int (*queue_claim_current)(es_store *s, const es_claim *claim);

    /* Removes the first n_done jobs of the claim and releases the group.
     * -1 with DIAG_CONFLICT (and no change) when the token is stale. */
    int (*queue_complete)(es_store *s, const es_claim *claim, size_t n_done,
                          int64_t now);

    /* Optional (NULL: queue_enqueue, then queue_complete each): finishes
     * claims[0..n) whole together with the jobs their units made
     * (jobs[i][0..n_jobs[i])), in as few round trips as the store can
     * (Redis: one): per claim, atomically, enqueues its jobs and completes
     * it, or, when its token is stale, does neither (status[i] -1, else
     * >= 0). A claim's jobs are thus enqueued once, when it completes, so
     * the store may take as fresh the ids of jobs marked
     * fresh_when_finished. A job with a fold_write may be dropped instead
     * (see es_job and queue_writes_folds): status[i] then has bit k set
     * for the k-th job of claim i so dropped (k < 31). Returns 0, or -1 with diag when the store could
     * not be asked (some claims may be finished, the others expire and
     * are redelivered). */
    int (*queue_finish_many)(es_store *s, const es_claim *const *claims,
                             const es_job *const *jobs, const size_t *n_jobs, size_t n,
                             int64_t now, int *status);

    /* Optional: 1 when queue_finish_many writes the fold_write of jobs
     * (es_job) into fold store `folds`, which holds the states of record
     * (Redis: the same server, not a cluster, so that one script reaches
     * both); 0 when it enqueues such jobs as any other. */
    int (*queue_writes_folds)(es_store *s, es_store *folds);

    /* Removes the first n_done jobs, then records a failure of the next one
     * (the new head): attempts+1, last_error = error, and the skip payload
     * claim->jobs[n_done].skip_payload (or none); when attempts reaches
     * max_attempts the group is parked (its jobs wait, none is dropped),
     * otherwise the head becomes ready again at retry_at. Releases the group.
     * -1 with DIAG_CONFLICT when the token is stale. */
    int (*queue_fail)(es_store *s, const es_claim *claim, size_t n_done,
                      const char *error, int64_t retry_at, int max_attempts,
                      int64_t now);

    /* Calls cb once per (pipeline, component, kind) with counts (of items
     * when counts_items, else of jobs). */
    int (*queue_stats)(es_store *s, int64_t now, es_stats_cb cb, void *ud);

    /* Lists parked groups (optionally one tenant's; NULL = all). */
    int (*queue_parked_list)(es_store *s, const char *tenant_id,
                             es_parked_cb cb, void *ud);

    /* Unparks a group: its head runs again now with attempts reset.
     * 1 when no such parked group. */
    int (*queue_parked_retry)(es_store *s, const char *group_key, int64_t now);

    /* Skips the failed item of a parked group's head and unparks the group:
     * the head as it failed goes to the dead letters with its error; then a
     * head with a skip payload (a job of several items) keeps its other
     * items (payload = skip payload, items - 1, attempts 0), and a head
     * without one is removed. 1 when no such group. */
    int (*queue_parked_skip)(es_store *s, const char *group_key, int64_t now);

    /* Number of queued jobs (pending, delayed, in flight or parked) whose
     * origin_id is `origin_id` and whose kind is in `kind_mask`
     * (1 << kind). Used by send --wait. */
    int (*queue_origin_pending)(es_store *s, const char *origin_id,
                                unsigned kind_mask, int64_t *count);

    /* 1 when group_key has no job at all (none pending, delayed, in flight
     * or parked), 0 when it has one, -1 with a diag. Read inside the
     * caller's unit of work, so no job of the group can appear before the
     * unit ends (Redis, which has none, reads it as it is: the caller
     * knows who could queue one meanwhile). Optional (NULL): the worker
     * then applies no projection in its command's unit
     * (inline_projections.h). */
    int (*queue_group_idle)(es_store *s, const char *group_key);

    /* ---- kill switch (optional: NULL when the backend cannot pause) ----
     * Pauses live with the queue, so every worker sharing it honours them
     * at its next claim: a group whose (tenant, pipeline, component) is
     * covered by a pause is not claimed; its jobs stay queued in order and
     * run where they were once resumed. A claim in flight finishes. */

    /* Pauses (mode HOLD or REJECT; replaces the mode of the same scope) or,
     * with PAUSE_NONE, resumes every pause within the scope (tenant_id NULL
     * and component NULL then match any). Returns 1 when resuming found no
     * pause. */
    int (*pause_set)(es_store *s, const char *tenant_id, const char *pipeline,
                     const char *component, pause_mode mode, int64_t now);

    /* The strongest mode of the pauses covering (tenant, pipeline,
     * component); component NULL asks about any pause of the pipeline for
     * that tenant. *mode = PAUSE_NONE when none. */
    int (*pause_check)(es_store *s, const char *tenant_id, const char *pipeline,
                       const char *component, pause_mode *mode);

    /* Calls cb once per pause, ordered by pipeline, component, tenant. */
    int (*pause_list)(es_store *s, es_pause_cb cb, void *ud);

    /* ---- worker registry (optional: NULL when the backend has none) ----
     * Lives with the queue, so `status` sees every process sharing it. */

    /* Records a beat of w (id required) at `now`, replacing its entry. */
    int (*worker_beat)(es_store *s, const es_worker_info *w, int64_t now);

    /* Calls cb once per known worker, ordered by id, with last_beat and
     * lost filled for `now` (store_worker_age_state); entries old enough
     * to prune are deleted instead of listed. */
    int (*worker_list)(es_store *s, int64_t now, es_worker_cb cb, void *ud);

    /* ---- event index (optional: NULL when the backend keeps none) ----
     * For an event log that cannot assign seqs or dedupe transactionally
     * (ClickHouse), a queue store may keep, per aggregate, the last seq
     * and the ids and idempotency keys of its events, changed atomically
     * per call. `scope` names the event log (its database). The index is
     * trusted only while its marker holds the epoch it was created with:
     * it is created when the log is empty, and a store that lost it (a
     * flushed Redis) never recreates it over a non-empty log. */

    /* Gets the epoch of the index of `scope` (*epoch malloc'd), creating
     * the index when there is none and log_empty. 0, 1 when there is no
     * index to trust, -1 on error. */
    int (*event_index_init)(es_store *s, const char *scope, int log_empty, char **epoch);

    /* Decides the outcomes of n events of ONE aggregate, in array order,
     * as event_append does (new: seq = last + 1, created_at = now, and the
     * event is indexed; retry: seq and created_at of the indexed event with
     * that id; duplicate: another indexed event has that idempotency key).
     * The index keeps a bounded window of each aggregate's recent events:
     * 2 (nothing changed, *last = the index's last seq) when an event's id
     * or key may be among older ones; the caller then decides from the
     * event log itself and calls event_index_record. 0, 1 when the index
     * of (scope, epoch) is not to be trusted (nothing changed), -1 on
     * error. */
    int (*event_index_assign)(es_store *s, const char *scope, const char *epoch,
                              es_event *events, size_t n, int64_t now,
                              append_outcome *outcomes, int64_t *last);

    /* After event_index_assign returned 2 with *last: indexes the n events
     * as the caller decided them from the event log (outcomes, and seq and
     * created_at of the new ones, all above base, the log's last seq);
     * index seqs above base that are not among them were never stored and
     * are given out again. 0, 2 when the index changed since `last`
     * (nothing changed: decide again), 1 when not to be trusted, -1 on
     * error. */
    int (*event_index_record)(es_store *s, const char *scope, const char *epoch,
                              const es_event *events, size_t n,
                              const append_outcome *outcomes, int64_t last, int64_t base);

    /* ---- fold store ---- */

    /* Reads the state of (tenant, table, key). Returns 0 with *state_json
     * (malloc'd, caller frees) and *last_seq, 1 when none, -1 on error. */
    int (*fold_get)(es_store *s, const char *tenant_id, const char *table,
                    const char *key, char **state_json, int64_t *last_seq);

    /* Writes state and last applied seq together (one row/hash). */
    int (*fold_put)(es_store *s, const char *tenant_id, const char *table,
                    const char *key, const char *state_json, int64_t last_seq,
                    int64_t updated_at);

    /* Calls cb for every row of `table` (one tenant's when tenant_id is
     * not NULL), ordered by tenant and key. Optional. */
    int (*fold_scan)(es_store *s, const char *tenant_id, const char *table,
                     es_fold_cb cb, void *ud);

    /* Replaces the rows of `table` by those of `shadow` atomically, in the
     * caller's unit of work when one is open: rows of `table` in scope
     * (tenant_id NULL = every tenant; key NULL = every key) are deleted
     * (with only_shadowed, just those that have a shadow row), then the
     * shadow rows are renamed to `table`. Readers see the old rows until
     * the commit. Optional. */
    int (*fold_swap)(es_store *s, const char *tenant_id, const char *table,
                     const char *shadow, const char *key, int only_shadowed);

    /* Deletes the rows of `table` in scope (tenant_id / key NULL = all).
     * Optional. */
    int (*fold_drop)(es_store *s, const char *tenant_id, const char *table,
                     const char *key);

    /* Replay checkpoints, one per (pipeline, projection): get returns 1
     * when none (strings of *out malloc'd, free with
     * store_replay_checkpoint_clear); put replaces it; put with NULL
     * deletes it. Optional. */
    int (*replay_checkpoint_get)(es_store *s, const char *pipeline,
                                 const char *projection, es_replay_checkpoint *out);
    int (*replay_checkpoint_put)(es_store *s, const char *pipeline,
                                 const char *projection,
                                 const es_replay_checkpoint *cp);

    /* ---- record store ---- */

    /* Appends a map record; a second append with the same (table,
     * record_id) is ignored. */
    int (*record_append)(es_store *s, const char *tenant_id, const char *table,
                         const char *record_id, const char *aggregate_id,
                         const char *record_json, int64_t created_at);

    /* Calls cb for a tenant's records of a table, oldest first, at most
     * `limit` (0 = all). */
    int (*record_list)(es_store *s, const char *tenant_id, const char *table,
                       size_t limit, es_record_cb cb, void *ud);
} es_store_ops;

struct es_store {
    const es_store_ops *ops;
};

/* The stores the engine uses, one per kind (may alias). */
typedef struct es_backends {
    es_store *events;
    es_store *queue;
    es_store *folds;
    es_store *records;
} es_backends;

/* Frees the jobs and key of a claim and zeroes it. */
void store_claim_clear(es_claim *claim);

/* Frees the strings of a checkpoint read by replay_checkpoint_get. */
void store_replay_checkpoint_clear(es_replay_checkpoint *cp);

/* Splits a group key "tenant\x1fpipeline\x1fcomponent\x1fkey" (job.h)
 * into its first three parts: pointers into `group_key` and lengths. -1
 * when it has fewer than four parts (not a pipeline group). */
typedef struct store_span {
    const char *p;
    size_t n;
} store_span;
int store_group_scope(const char *group_key, store_span parts[3]);

/* 1 when the pause (tenant NULL = all, component NULL = all) covers the
 * scope. */
int store_pause_covers(const char *p_tenant, const char *p_pipeline,
                       const char *p_component, store_span tenant,
                       store_span pipeline, store_span component);

/* Closes every distinct store of `b` once. */
void backends_close(es_backends *b);

/* Begins / commits / rolls back a unit of work on every distinct store of
 * `b` (in the order events, queue, folds, records; commit in the same order
 * so that events are durable before the jobs that project them). */
int backends_tx_begin(es_backends *b);
int backends_tx_commit(es_backends *b);
void backends_tx_rollback(es_backends *b);

/* Commits like backends_tx_commit, through tx_commit_batched where a store
 * has it (a worker's unit: see es_store_ops.tx_commit_batched). */
int backends_tx_commit_batched(es_backends *b);

/* How many distinct stores of `b` commit asynchronously (tx_commit_async). */
int backends_async_count(es_backends *b);

/* Commits like backends_tx_commit, except that stores with tx_commit_async
 * commit without waiting: done(ud, status) is then called once per such
 * store (backends_async_count times), possibly from other threads. The
 * other stores are committed first, synchronously. 0, or -1 with a diag
 * (no done call is then pending for the stores that failed). */
int backends_tx_commit_async(es_backends *b, void (*done)(void *ud, int status), void *ud);

/* 1 when any distinct store of `b` is busy (see es_store_ops.busy). */
int backends_busy(es_backends *b);

#endif
