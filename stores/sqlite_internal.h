/* sqlite_internal.h: what the sqlite_*.c files share: the store object,
 * its shared and reader connections with their prepared-statement caches,
 * transaction helpers, and the ops each concept file implements. Not for
 * the engine. */
#ifndef ES_SQLITE_INTERNAL_H
#define ES_SQLITE_INTERNAL_H

#include "sqlite_store.h"
#include "sqlite_profile.h"
#include "sqlite_waiters.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>

/* One slot per cached prepared statement. The SQL text lives in the concept
 * file that uses the statement and is passed on first use. */
typedef enum {
    SQ_BEGIN_IMMEDIATE,
    SQ_COMMIT,
    SQ_ROLLBACK,
    SQ_EVENT_INSERT,
    SQ_EVENT_LAST_SEQ,
    SQ_EVENT_BY_ID,
    SQ_EVENT_READ,
    SQ_EVENT_READ_LIMIT,
    SQ_JOB_INSERT,
    SQ_COUNTERS_READ,
    SQ_COUNTERS_WRITE,
    SQ_GROUP_INSERT,
    SQ_GROUP_GID,
    SQ_JOB_BY_DEDUP,
    SQ_JOB_REPLACE,
    SQ_GROUP_STATE,
    SQ_GROUP_SET_READY,
    SQ_EXPIRED_PROBE,
    SQ_EXPIRED_SWEEP,
    SQ_GROUP_NEXT_READY,
    SQ_JOBS_HEAD,
    SQ_GROUP_CLAIM,
    SQ_GROUP_EXTEND,
    SQ_JOBS_DELETE_UPTO,
    SQ_JOB_HEAD_RUN_AT,
    SQ_GROUP_DELETE,
    SQ_GROUP_RELEASE,
    SQ_JOB_FAIL,
    SQ_GROUP_PARK,
    SQ_ORIGIN_COUNT,
    SQ_COUNT_ADD,
    SQ_FOLD_GET,
    SQ_FOLD_PUT,
    SQ_RECORD_INSERT,
    SQ_RECORD_LIST,
    SQ_PAUSE_COVERS,
    SQ_PAUSE_CHECK,
    SQ_PAUSE_UNREADY,
    SQ_PAUSE_MARK,
    SQ_COUNT
} sqlite_stmt_id;

/* A change of one queued-item count, waiting for its transaction's commit. */
typedef struct sqlite_count_delta {
    char *pipeline, *component;
    int kind;
    int64_t delta;
} sqlite_count_delta;

/* The queue counters of the open write transaction (sqlite_counters.c). */
typedef struct sqlite_counters {
    int loaded;                     /* pos and token were read in this transaction */
    int64_t pos, pos_written;       /* last position handed out / in the table */
    int64_t token, token_written;   /* last claim token handed out / in the table */
    sqlite_count_delta *deltas;
    size_t n_deltas, cap_deltas;
} sqlite_counters;

/* A connection with its prepared-statement cache. notify asks the commit
 * to wake claim waiters. */
typedef struct sqlite_conn {
    sqlite3 *db;
    pthread_t owner; /* readers: the thread that uses it */
    int notify;
    sqlite_counters counters; /* shared connection: see sqlite_counters.c */
    sqlite3_stmt *stmts[SQ_COUNT];
    struct sqlite_conn *next;
} sqlite_conn;

/* The store keeps one shared connection per process for everything the
 * workers do (units of work, claims, fold reads, every write): one page
 * cache that a commit never invalidates, instead of one per thread that
 * every other thread's commit does. Every use of it holds shared_mu
 * (recursively, per thread): the worker threads serialise on the SQLite
 * write lock anyway, and a unit of work holds shared_mu from tx_begin to
 * tx_commit, so no other thread reads its uncommitted writes. Threads that
 * only read (status, scans, listings) use their own reader connection and
 * never wait for a unit; inside its own unit a thread reads through the
 * shared connection (it sees its writes). Other processes have their own
 * store: SQLite's file locks and busy timeout order them. */
typedef struct sqlite_store {
    es_store base;
    uint64_t id;              /* unique per open, keys the thread caches */
    char *path;               /* the database file */
    sqlite_conn *shared;
    sqlite_profile *shared_profile; /* ESENGINE_SQLITE_PROFILE: the shared connection's statement times */
    pthread_mutex_t shared_mu;
    _Atomic uintptr_t shared_owner; /* thread holding shared_mu, 0 if none */
    int shared_depth;         /* recursion depth of the holder */
    int unit_open;            /* between tx_begin and tx_commit/rollback */
    sqlite3_int64 unit_changes; /* sqlite3_total_changes64 when the open unit began */
    _Atomic int batch_open;   /* the open transaction holds batched units (sqlite_units.c) */
    int batch_units;          /* units in the open transaction */
    sqlite_waiters *waiters;  /* other connections waiting for the write lock */
    int64_t batch_opened_ms;  /* when it began (monotonic) */
    _Atomic int wal_frames;   /* frames in the WAL after the last commit */
    int ckpt_mark;            /* wal_frames when a checkpoint was last asked for */
    int ckpt_soft_frames;     /* CKPT_SOFT_FRAMES, CKPT_HARD_FRAMES (sqlite_store.c) */
    _Atomic int ckpt_hard_frames;
    int ckpt_due;             /* ask for one when shared_mu is next released */
    pthread_mutex_t ckpt_mu;  /* guards the checkpointer fields below */
    pthread_cond_t ckpt_cv;   /* signals ckpt_asked and ckpt_stop */
    pthread_t ckpt_thread;    /* runs every checkpoint (started on first use) */
    int ckpt_started, ckpt_asked, ckpt_stop;
    sqlite3 *ckpt_db;         /* the checkpointer's connection */
    pthread_mutex_t mu;       /* guards readers */
    sqlite_conn *readers;
    pthread_mutex_t group_mu; /* guards the group_* fields */
    pthread_cond_t group_cv;  /* signals a leader got shared_mu (yielders) */
    struct sqlite_group_req *group_head, *group_tail; /* waiting writes, FIFO */
    int group_busy;           /* a leader is running a group's transaction */
    _Atomic int group_leader_waiting; /* a leader waits for shared_mu */
    uint64_t group_epoch;     /* leaders that got shared_mu so far */
    int group_yielders;       /* units waiting in sqlite_group_yield */
    pthread_mutex_t wait_mu;  /* guards wake_seq; wait_cv signals enqueues */
    pthread_cond_t wait_cv;
    uint64_t wake_seq;
} sqlite_store;

/* A connection to read with: the shared one when the calling thread holds
 * it (inside its unit of work), else the thread's reader connection,
 * opened on first use (owned by the store). Needs no release. NULL with a
 * diag on failure. */
sqlite_conn *sqlite_conn_get(sqlite_store *s);

/* Takes / releases the shared connection (recursive per thread). Hot
 * reads (claims, fold reads) use it: its cache is the warm one. */
sqlite_conn *sqlite_shared_lock(sqlite_store *s);
void sqlite_shared_unlock(sqlite_store *s);

/* 1 when the calling thread has a unit of work open on s. */
int sqlite_in_unit(sqlite_store *s);

/* 1 when the calling thread holds the shared connection. */
int sqlite_shared_held(sqlite_store *s);

/* The cached statement `id` of c, prepared from `sql` on first use, reset
 * and with its bindings cleared. Owned by c. NULL with a diag on failure. */
sqlite3_stmt *sqlite_conn_stmt(sqlite_conn *c, sqlite_stmt_id id, const char *sql);

/* Sets DIAG_BACKEND with "what: <sqlite message>" and returns -1. */
int sqlite_fail(sqlite_conn *c, const char *what);

/* Runs c's cached no-argument statement `id` (BEGIN, COMMIT, ROLLBACK)
 * from `sql`. 0, or -1 with a diag. */
int sqlite_conn_run(sqlite_conn *c, sqlite_stmt_id id, const char *sql);

/* With shared_mu held: BEGIN IMMEDIATE on the shared connection. 0 or -1. */
int sqlite_begin_held(sqlite_store *s);

/* With shared_mu held: commits the shared connection's transaction (its
 * queue counters written first) and with it any batched units, wakes claim
 * waiters when it enqueued, and notes when a checkpoint is due. On failure
 * rolls it back (the connection is usable again): 0 or -1. */
int sqlite_commit_held(sqlite_store *s);

/* With shared_mu held: rolls back the shared connection's transaction, if
 * any, batched units included. */
void sqlite_rollback_held(sqlite_store *s);

/* Commits the units waiting in a batch, if any (sqlite_units.c); called
 * before a claim that found nothing waits, and at close. */
void sqlite_batch_flush(sqlite_store *s);

/* Takes the shared connection into *c and opens a write transaction
 * (BEGIN IMMEDIATE) unless one is open (the thread's unit of work); *own
 * tells sqlite_write_end whether to finish it. 0, or -1 with nothing held. */
int sqlite_write_begin(sqlite_store *s, sqlite_conn **c, int *own);

/* Finishes what sqlite_write_begin opened: commits when rc == 0, rolls back
 * otherwise; wakes claim waiters after a commit that asked for it; releases
 * the shared connection. Returns rc, or -1 when the commit failed. */
int sqlite_write_end(sqlite_store *s, sqlite_conn *c, int own, int rc);

/* Writes into an open write transaction on c; 0, or -1 with a diag (the
 * transaction stays usable: the caller rolls it back). */
typedef int (*sqlite_write_fn)(sqlite_conn *c, void *ud);

/* Group commit (sqlite_group_commit.c): runs fn(c, ud) in a write
 * transaction shared with the writes of other threads that wait for the
 * shared connection at the same time, and returns once that transaction
 * committed: fn's writes are durable (as far as synchronous=NORMAL goes)
 * when it returns 0. When one write of a group fails, the group is rolled
 * back and each write runs again alone, so a failure is only its own.
 * Returns fn's result, or -1 with a diag when the transaction could not
 * begin or commit. A thread that holds the shared connection (its unit of
 * work) runs fn inline, in its own transaction. */
int sqlite_group_write(sqlite_store *s, sqlite_write_fn fn, void *ud);

/* Called before a unit of work takes the shared connection: while a group
 * commit's leader waits for it, waits until that leader got it (not for
 * the leaders after it, so units cannot starve). Requests waiting for
 * their commit go before a worker's next unit of work instead of racing it
 * for shared_mu. No-op when the caller holds the shared connection. */
void sqlite_group_yield(sqlite_store *s);

/* Wakes every thread blocked in queue_claim on s. */
void sqlite_store_wake(sqlite_store *s);

/* Waits until sqlite_store_wake or `ms` milliseconds pass, whichever comes
 * first; `seen` is the wake_seq read before the failed claim. */
void sqlite_store_wait(sqlite_store *s, uint64_t seen, int ms);

/* The current wake sequence (read before trying to claim). */
uint64_t sqlite_store_wake_seq(sqlite_store *s);

/* Binds a C string (NULL binds SQL NULL) without copying: the caller keeps
 * it alive until the statement is reset. */
int sqlite_bind_str(sqlite3_stmt *st, int idx, const char *str);

/* A malloc'd copy of a text column (NULL for SQL NULL); sets *oom on an
 * allocation failure. */
char *sqlite_column_dup(sqlite3_stmt *st, int col, int *oom);

/* The event columns sqlite_event_row reads, in order. */
#define SQLITE_EVENT_COLUMNS                                                \
    "id, tenant_id, aggregate_type, aggregate_id, seq, type, version,"      \
    " occurred_at, created_at, coalesce(idempotency_key, id), data, metadata"

/* Points *ev at the SQLITE_EVENT_COLUMNS of st's current row: the strings
 * belong to the row, valid until the statement steps or resets. */
void sqlite_event_row(sqlite3_stmt *st, es_event *ev);

/* SQL condition: the jobs (table alias `alias`) of the group whose key is
 * the bound parameter `param`. Jobs carry their group's gid (the position
 * of the group's first job, see sqlite_schema.c), not its key's text. */
#define SQLITE_JOBS_OF_GROUP(alias, param)                                       \
    alias ".gid = (SELECT gid FROM groups WHERE group_key = " param ")"

/* The job columns sqlite_job_read decodes, in order; prefix with a table
 * alias where needed ("j." SQLITE_JOB_COLUMNS_J). */
#define SQLITE_JOB_COLUMNS                                                  \
    "pos, id, kind, tenant_id, pipeline, component, group_key, dedup_id,"   \
    " dedup_mode, origin_id, run_at, attempts, last_error, payload, items"
#define SQLITE_JOB_COLUMNS_J                                                    \
    "j.pos, j.id, j.kind, j.tenant_id, j.pipeline, j.component, j.group_key,"   \
    " j.dedup_id, j.dedup_mode, j.origin_id, j.run_at, j.attempts,"             \
    " j.last_error, j.payload, j.items"
#define SQLITE_JOB_NCOLS 15

/* Decodes the SQLITE_JOB_COLUMNS starting at column `col` into a zeroed
 * `job` (strings malloc'd, owned by job). 0, or -1 on OOM with a diag. */
int sqlite_job_read(sqlite3_stmt *st, int col, es_job *job);

/* ---- queue counters of the open write transaction (sqlite_counters.c) */

/* Hands out n new queue positions; *before is the one just before the
 * first. 0, or -1 with a diag. */
int sqlite_counters_positions(sqlite_conn *c, size_t n, int64_t *before);

/* Hands out the next claim token. 0, or -1 with a diag. */
int sqlite_counters_token(sqlite_conn *c, int64_t *token);

/* Adds `delta` to the queued-item count of (pipeline, component, kind),
 * written at the commit. 0, or -1 with a diag. */
int sqlite_counters_count_add(sqlite_conn *c, const char *pipeline, const char *component,
                              int kind, int64_t delta);

/* Writes what the transaction changed in the counters (before COMMIT, or
 * before reading queue_counts inside it). 0, or -1 with a diag. */
int sqlite_counters_flush(sqlite_conn *c);

/* Forgets the transaction's counters (after its COMMIT or ROLLBACK). */
void sqlite_counters_end(sqlite_conn *c);

/* Frees what the counters hold (the connection closes). */
void sqlite_counters_free(sqlite_conn *c);

/* Makes a group idle after its head changed, inside the caller's write
 * transaction: deleted when empty, else ready at max(now, head.run_at), so
 * a backlogged group goes behind the groups already waiting. 0 or -1. */
int sqlite_queue_requeue(sqlite_conn *c, const char *group, int64_t now);

/* Inside a claim's write transaction: when the group's (tenant, pipeline,
 * component) is paused, takes it out of the ready index (remembered in
 * paused_groups until a resume) and returns 1; 0 when not paused; -1 with a
 * diag. */
int sqlite_pause_hold(sqlite_conn *c, const char *group);

/* Creates the schema if missing (idempotent); 0 or -1 with a diag. */
int sqlite_schema_create(sqlite3 *db);

/* ---- ops implemented by the concept files (see store.h for contracts) */

int sqlite_tx_begin(es_store *s);
int sqlite_tx_commit(es_store *s);
int sqlite_tx_commit_batched(es_store *s);
void sqlite_tx_rollback(es_store *s);

int sqlite_event_last_seq(es_store *s, const char *tenant_id, const char *aggregate_type,
                          const char *aggregate_id, int64_t *seq);
int sqlite_event_append(es_store *s, es_event *events, size_t n, int64_t now,
                        append_outcome *outcomes);
int sqlite_event_read(es_store *s, const char *tenant_id, const char *aggregate_type,
                      const char *aggregate_id, int64_t after_seq, size_t limit,
                      es_event_cb cb, void *ud);

int sqlite_queue_enqueue(es_store *s, const es_job *jobs, size_t n, int64_t now);
int sqlite_queue_claim(es_store *s, const char *worker_id, size_t max_jobs,
                       int64_t now, int64_t lease_ms, int wait_ms, es_claim *out);
int sqlite_queue_extend(es_store *s, es_claim *claim, int64_t now, int64_t lease_ms);
int sqlite_queue_claim_current(es_store *s, const es_claim *claim);
int sqlite_queue_complete(es_store *s, const es_claim *claim, size_t n_done,
                          int64_t now);
int sqlite_queue_fail(es_store *s, const es_claim *claim, size_t n_done,
                      const char *error, int64_t retry_at, int max_attempts,
                      int64_t now);
int sqlite_queue_origin_pending(es_store *s, const char *origin_id,
                                unsigned kind_mask, int64_t *count);
int sqlite_queue_group_idle(es_store *s, const char *group_key);

int sqlite_queue_stats(es_store *s, int64_t now, es_stats_cb cb, void *ud);
int sqlite_queue_parked_list(es_store *s, const char *tenant_id, es_parked_cb cb,
                             void *ud);
int sqlite_queue_parked_retry(es_store *s, const char *group_key, int64_t now);
int sqlite_queue_parked_skip(es_store *s, const char *group_key, int64_t now);

int sqlite_event_scan(es_store *s, const char *tenant_id, const char *aggregate_type,
                      const char *after_tenant, const char *after_aggregate,
                      int64_t since_ms, size_t limit, es_event_cb cb, void *ud);
int sqlite_event_count(es_store *s, const char *tenant_id, const char *aggregate_type,
                       int64_t since_ms, int64_t *count);

int sqlite_pause_set(es_store *s, const char *tenant_id, const char *pipeline,
                     const char *component, pause_mode mode, int64_t now);
int sqlite_pause_check(es_store *s, const char *tenant_id, const char *pipeline,
                       const char *component, pause_mode *mode);
int sqlite_pause_list(es_store *s, es_pause_cb cb, void *ud);

/* Worker registry (sqlite_workers.c), as in store.h. */
int sqlite_worker_beat(es_store *s, const es_worker_info *w, int64_t now);
int sqlite_worker_list(es_store *s, int64_t now, es_worker_cb cb, void *ud);

int sqlite_fold_scan(es_store *s, const char *tenant_id, const char *table,
                     es_fold_cb cb, void *ud);
int sqlite_fold_swap(es_store *s, const char *tenant_id, const char *table,
                     const char *shadow, const char *key, int only_shadowed);
int sqlite_fold_drop(es_store *s, const char *tenant_id, const char *table,
                     const char *key);
int sqlite_replay_checkpoint_get(es_store *s, const char *pipeline,
                                 const char *projection, es_replay_checkpoint *out);
int sqlite_replay_checkpoint_put(es_store *s, const char *pipeline,
                                 const char *projection,
                                 const es_replay_checkpoint *cp);

int sqlite_fold_get(es_store *s, const char *tenant_id, const char *table,
                    const char *key, char **state_json, int64_t *last_seq);
int sqlite_fold_put(es_store *s, const char *tenant_id, const char *table,
                    const char *key, const char *state_json, int64_t last_seq,
                    int64_t updated_at);
int sqlite_record_append(es_store *s, const char *tenant_id, const char *table,
                         const char *record_id, const char *aggregate_id,
                         const char *record_json, int64_t created_at);
int sqlite_record_list(es_store *s, const char *tenant_id, const char *table,
                       size_t limit, es_record_cb cb, void *ud);

#endif
