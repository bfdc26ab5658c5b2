/* job.h: a unit of queued work. Jobs travel between threads and processes as
 * bytes (payload) with a few header fields the queue needs to order, dedup,
 * delay and retry them. */
#ifndef ES_JOB_H
#define ES_JOB_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    JOB_COMMAND = 1, /* payload: command JSON {tenant_id,pipeline,command,aggregate_id,data} */
    JOB_FOLD = 2,    /* payload: one event (codec_event_encode) */
    JOB_MAP = 3,     /* payload: one event */
    JOB_REACTOR = 4  /* payload: event + fold state (codec_reactor_encode) */
} job_kind;

typedef enum {
    DEDUP_NONE = 0,     /* enqueue of an id already queued is a no-op */
    DEDUP_DEBOUNCE = 1, /* a pending job with the same dedup_id is replaced
                           (payload, run_at); one in flight gets a successor */
    DEDUP_THROTTLE = 2  /* dropped while a job with the same dedup_id is
                           pending or in flight */
} dedup_mode;

/* A fold's state of record that a unit computed for the fold job it made
 * (es_job.fold_write): the state after the job's events (first_seq ..
 * last_seq), folded from the stored state from_state whose last applied
 * seq was from_seq (first_seq - 1, or older when the events between were
 * of types the fold skips). */
typedef struct es_fold_write {
    char *table;      /* the fold's table */
    char *key;        /* the fold's key (the aggregate id) */
    char *state_json;
    char *from_state; /* the stored state it was folded from, NULL: none */
    int64_t from_seq; /* the stored last_seq it was folded from */
    int64_t first_seq; /* the seq of the job's first event */
    int64_t last_seq; /* the seq of the job's last event */
} es_fold_write;

typedef struct es_job {
    char *id;          /* unique among queued jobs; deterministic where it can be */
    job_kind kind;
    char *tenant_id;
    char *pipeline;
    char *component;   /* command, fold, map or reactor name */
    char *group_key;   /* FIFO unit: one claimant at a time, enqueue order */
    char *dedup_id;    /* NULL unless dedup_mode != DEDUP_NONE */
    dedup_mode dedup_mode;
    char *origin_id;   /* id of the command job this work descends from */
    int64_t run_at;    /* not before, ms (wall clock) */
    int attempts;      /* failed attempts so far; set by the queue */
    int64_t position;  /* set by the queue, unique: increases with enqueue
                          order within a group (used as last_seq by keyed
                          folds), except for fresh due jobs on Redis, which
                          take positions from a block their process
                          reserved (redis_queue.c: never a keyed fold's) */
    char *last_error;  /* set by the queue on reads of failed jobs, else NULL */
    char *payload;     /* bytes, payload_len long (NUL-terminated for convenience) */
    size_t payload_len;
    int items;         /* events (fold, map) or commands the payload holds; 0
                          means 1. Stores that count items (es_store_ops
                          counts_items) report queue stats in items, so a
                          fold's lag stays in events. Jobs with a dedup id
                          hold one. */
    char *skip_payload; /* set by a worker on the job that failed, when it holds
                           several items: its payload without the item that
                           failed (queue_fail keeps it with the job; a parked
                           skip then drops that item only). Else NULL. */
    size_t skip_payload_len;
    int fresh_id;      /* 1: no queued job can have this id, so a store may
                          skip the id's dedupe (SQLite does: such jobs stay
                          out of its jobs_id index). Set for ids drawn new
                          (ids_timed, a send batch's ids) and for the jobs a
                          unit derives when the queue shares its transaction
                          (worker.c). 0: a client's id, or one derived where
                          a redo can enqueue it again (Redis): deduped. */
    int fresh_when_finished; /* 1: the job holds only events its unit appended
                          new (no earlier run can have made it), so a
                          store that enqueues it atomically with the
                          completion of that unit's claim
                          (queue_finish_many) may take its id as fresh,
                          and give it any unused position (never set for
                          a keyed fold's jobs, see position) */
    es_fold_write *fold_write; /* owned, or NULL. Set on a fold job of
                          events its unit appended new (fresh_when_finished)
                          whose fold the unit ran: a store that finishes the
                          unit with queue_finish_many and holds the fold's
                          state of record may write that state instead of
                          enqueueing the job, atomically with the claim's
                          completion and only while the fold's group
                          has no job (none of its events waits) and the
                          stored state and last_seq are still from_state
                          and from_seq (a replay may swap in another
                          state at the same seq); otherwise the job is
                          enqueued as usual (a store may always ignore
                          it) */
} es_job;

/* The items job carries (job->items, at least 1). */
int job_items(const es_job *job);

/* A copy of w (NULL on OOM, with diag set). */
es_fold_write *fold_write_copy(const es_fold_write *w);

/* Frees w and its strings; NULL is fine. */
void fold_write_free(es_fold_write *w);

/* Frees the strings of `job` (not the struct) and zeroes it. */
void job_clear(es_job *job);

/* Deep copy; 0 or -1 with diag set. */
int job_copy(es_job *dst, const es_job *src);

/* Builds the group key "tenant\x1fpipeline\x1fcomponent\x1fkey" into a
 * malloc'd string (NULL on OOM). Group keys are opaque to the queue. */
char *job_group_key(const char *tenant, const char *pipeline,
                    const char *component, const char *key);

/* A short name for the kind ("command", "fold", "map", "reactor"). */
const char *job_kind_name(job_kind kind);

#endif
