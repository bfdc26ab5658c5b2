/* memory_internal.h: the memory store's shared state, seen only by the
 * stores/memory_*.c files. */
#ifndef ES_MEMORY_INTERNAL_H
#define ES_MEMORY_INTERNAL_H

#include "memory_heap.h"
#include "memory_map.h"
#include "store.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct mstore mstore;

/* A change kept by a unit of work: `run` applies (deferred queue changes) or
 * reverts (undo entries), `drop` frees p without running it. */
typedef struct mstore_action {
    void (*run)(mstore *s, void *p);
    void (*drop)(void *p);
    void *p;
} mstore_action;

typedef struct mstore_actions {
    mstore_action *items;
    size_t n, cap;
} mstore_actions;

/* ---- event log ---- */
typedef struct magg {
    mmap_node node;
    char *key; /* tenant, type, id */
    struct mevent **events; /* events[i]->ev.seq == i + 1 */
    size_t n, cap;
} magg;

typedef struct mevent {
    es_event ev;
    magg *agg;
    mmap_node id_node, ikey_node;
    char *id_key;   /* tenant, id */
    char *ikey_key; /* aggregate key, idempotency key */
} mevent;

/* ---- job queue ---- */
typedef struct mjob {
    es_job job;
    struct mjob *next; /* in the group FIFO, then in the dead letters */
    struct mgroup *group;
    mmap_node id_node, dedup_node;
    char *dedup_key;          /* tenant, dedup_id; NULL without dedup */
    int id_indexed, dedup_indexed;
    int in_flight;
    int64_t enqueued_at;
} mjob;

typedef struct mgroup {
    mmap_node node;
    char *key;
    mheap_item sched; /* due time: head ready (max(run_at, requeue time)) or
                         lease expiry while claimed; absent when parked */
    mjob *head, *tail;
    size_t n;
    int claimed;
    size_t claimed_n; /* the first claimed_n jobs are in flight */
    int64_t token, lease_until;
    int parked;
    int64_t parked_at;
    int held; /* taken out of the schedule by a pause (memory_pause.c) */
} mgroup;

/* One kill-switch pause; NULL tenant or component = every one. */
typedef struct mpause {
    char *tenant_id, *pipeline, *component;
    pause_mode mode;
    int64_t paused_at;
} mpause;

/* ---- fold and record stores ---- */
typedef struct mfold {
    mmap_node node;
    char *key; /* tenant, table, key */
    char *state;
    int64_t last_seq, updated_at;
} mfold;

typedef struct mtable {
    mmap_node node;
    char *key; /* tenant, table */
    struct mrecord **items;
    size_t n, cap;
} mtable;

typedef struct mrecord {
    mmap_node node;
    char *key; /* tenant, table, record id */
    mtable *table;
    char *record_id, *aggregate_id, *json;
    int64_t created_at;
} mrecord;

struct mstore {
    es_store base;
    pthread_mutex_t mutex;
    pthread_cond_t work; /* broadcast when queue changes may make work ready */
    atomic_uintptr_t owner; /* thread marker of the lock holder, 0 if none */
    int depth;              /* lock nesting of the owner */
    int in_tx;
    mstore_actions undo;     /* reverts of applied writes (events, folds, records) */
    mstore_actions deferred; /* queue changes applied at commit */

    mmap aggregates, event_ids, event_ikeys;

    mmap groups, job_ids, job_dedup;
    mheap schedule;
    size_t groups_allocated; /* live and spare groups: the schedule has room for all */
    int64_t next_token, next_position;
    uint64_t next_seq;
    mjob *dead; /* skipped heads (dead letters), newest first */
    struct mgroup **fresh; /* groups created empty by enqueues not yet run */
    size_t fresh_n, fresh_cap;

    mmap folds, tables, records;

    mpause *pauses;
    size_t n_pauses, cap_pauses;

    es_worker_info *workers; /* ordered by id; strings owned (memory_workers.c) */
    size_t n_workers, cap_workers;
};

/* Locking: one store-wide mutex, re-entrant for its owner so that a unit of
 * work (tx_begin..commit) holds it across calls. */
void memory_store_lock(mstore *s);
void memory_store_unlock(mstore *s);

/* Waits on s->work until signalled or `deadline` (monotonic ms); the
 * caller holds the lock exactly once. */
void memory_store_wait(mstore *s, int64_t deadline);

/* Records a revert of a write just applied. -1 with a diag on OOM (the
 * caller then reverts by hand). */
int memory_store_undo_push(mstore *s, void (*run)(mstore *, void *), void (*drop)(void *),
                     void *p);
size_t memory_store_undo_mark(const mstore *s);
/* Reverts the writes recorded after `mark`, newest first. */
void memory_store_undo_to(mstore *s, size_t mark);
/* Ends a successful write call: outside a unit of work its reverts are
 * dropped. */
void memory_store_undo_settle(mstore *s);

/* Applies a queue change now, or at commit inside a unit of work. Takes
 * ownership of p (dropped on error). 0, or -1 with a diag on OOM. */
int memory_store_submit(mstore *s, void (*run)(mstore *, void *), void (*drop)(void *),
                  void *p);

/* Per-kind operations (stores/memory_events.c, memory_queue.c,
 * memory_queue_admin.c, memory_folds.c, memory_records.c). */
int memory_event_append(es_store *s, es_event *events, size_t n, int64_t now,
                        append_outcome *outcomes);
int memory_event_last_seq(es_store *s, const char *tenant_id, const char *aggregate_type,
                          const char *aggregate_id, int64_t *seq);
int memory_event_read(es_store *s, const char *tenant_id, const char *aggregate_type,
                      const char *aggregate_id, int64_t after_seq, size_t limit,
                      es_event_cb cb, void *ud);
void memory_events_free(mstore *s);

int memory_queue_enqueue(es_store *s, const es_job *jobs, size_t n, int64_t now);
int memory_queue_claim(es_store *s, const char *worker_id, size_t max_jobs,
                       int64_t now, int64_t lease_ms, int wait_ms, es_claim *out);
int memory_queue_extend(es_store *s, es_claim *claim, int64_t now, int64_t lease_ms);
int memory_queue_complete(es_store *s, const es_claim *claim, size_t n_done,
                          int64_t now);
int memory_queue_fail(es_store *s, const es_claim *claim, size_t n_done,
                      const char *error, int64_t retry_at, int max_attempts,
                      int64_t now);
void memory_queue_free(mstore *s);

/* Queue internals shared with memory_queue_admin.c. */
void memory_queue_job_free(mstore *s, mjob *j);          /* unindexes and frees */
mjob *memory_queue_group_pop(mgroup *g);                 /* unlinks the head */
void memory_queue_group_settle(mstore *s, mgroup *g, int64_t now); /* reschedule or free */
/* Frees the groups enqueues created that ended up with no job (all jobs
 * deduplicated, or the enqueue rolled back). Run at the end of each write
 * call or unit of work, never between the changes of one unit. */
void memory_queue_sweep(mstore *s);

int memory_queue_stats(es_store *s, int64_t now, es_stats_cb cb, void *ud);
int memory_queue_parked_list(es_store *s, const char *tenant_id, es_parked_cb cb,
                             void *ud);
int memory_queue_parked_retry(es_store *s, const char *group_key, int64_t now);
int memory_queue_parked_skip(es_store *s, const char *group_key, int64_t now);
int memory_queue_origin_pending(es_store *s, const char *origin_id,
                                unsigned kind_mask, int64_t *count);
int memory_queue_group_idle(es_store *s, const char *group_key);

int memory_pause_set(es_store *s, const char *tenant_id, const char *pipeline,
                     const char *component, pause_mode mode, int64_t now);
int memory_pause_check(es_store *s, const char *tenant_id, const char *pipeline,
                       const char *component, pause_mode *mode);
int memory_pause_list(es_store *s, es_pause_cb cb, void *ud);
/* 1 when a pause covers the group (caller holds the lock). */
int memory_pause_covers(const mstore *s, const char *group_key);
void memory_pauses_free(mstore *s);
/* Puts g back in the schedule after a pause held it (queue internals). */
void memory_queue_group_unhold(mstore *s, mgroup *g, int64_t now);

int memory_worker_beat(es_store *s, const es_worker_info *w, int64_t now);
int memory_worker_list(es_store *s, int64_t now, es_worker_cb cb, void *ud);
void memory_workers_free(mstore *s);

int memory_fold_get(es_store *s, const char *tenant_id, const char *table,
                    const char *key, char **state_json, int64_t *last_seq);
int memory_fold_put(es_store *s, const char *tenant_id, const char *table,
                    const char *key, const char *state_json, int64_t last_seq,
                    int64_t updated_at);
void memory_folds_free(mstore *s);

int memory_record_append(es_store *s, const char *tenant_id, const char *table,
                         const char *record_id, const char *aggregate_id,
                         const char *record_json, int64_t created_at);
int memory_record_list(es_store *s, const char *tenant_id, const char *table,
                       size_t limit, es_record_cb cb, void *ud);
void memory_records_free(mstore *s);

#endif
