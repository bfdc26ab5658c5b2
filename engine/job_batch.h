/* job_batch.h: the jobs a unit of work enqueues, built in memory: command
 * jobs (a send, a reactor's dispatch) and the fold and map jobs of the
 * events a command batch appended. A map job takes up to JOB_MAX_EVENTS
 * of the unit's events of one aggregate, and so does a fold job when the
 * queue counts items (es_store_ops counts_items: the lag status reports
 * stays in events) and events share an origin (engine_wait counts jobs per
 * origin), or all of them when it carries the state the batch folded
 * (es_job fold_write). A job of a keyed fold takes one event: keyed folds
 * use each job's queue position as their last_seq. Fold and map workers
 * read either shape. */
#ifndef ES_JOB_BATCH_H
#define ES_JOB_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"
#include "lua_host.h"
#include "store.h"

/* The most events one fold or map job carries, except a fold job with a
 * fold_write (es_job): it holds all its fold's events of the unit, so
 * that the finish can drop it whole (at most JOB_FOLD_WRITE_MAX_BYTES of
 * event data, job_fold_write_fits). */
#define JOB_MAX_EVENTS 64
#define JOB_FOLD_WRITE_MAX_BYTES (256u << 10)

/* 1 when one job can hold events[0..n) with a fold_write. */
int job_fold_write_fits(const es_event *events, size_t n);

/* A growable array of jobs to enqueue in one call. */
typedef struct job_batch {
    es_job *items;
    size_t len, cap;
} job_batch;

/* Appends a zeroed job and returns it (owned by the batch), NULL on OOM. */
es_job *job_batch_push(job_batch *b);
void job_batch_free(job_batch *b);

/* Fills the header of a job (group key from tenant, pipeline,
 * group_component and key). 0, or -1 with a diag on OOM. */
int job_fill(es_job *job, const char *id, job_kind kind, const char *tenant,
             const char *pipeline, const char *component, const char *group_component,
             const char *key, const char *origin, int64_t run_at);

/* Adds a command job (as a reactor's dispatch enqueues it) for the command
 * group of aggregate_id; the id is localized to that group. Nobody waits on
 * such a job, so it carries no origin (engine_send_waitable). */
int job_batch_add_command(job_batch *b, const char *id, const char *tenant,
                          const char *pipeline, const char *command,
                          const char *aggregate_id, const char *command_json, int64_t now);

/* Adds the fold and map jobs of n appended events in seq order: routes[i]
 * and origins[i] belong to events[i]; events whose outcome is
 * APPEND_DUPLICATE get none, nor do routes already applied
 * (es_route.applied). fold_events_per_job: 1, or JOB_MAX_EVENTS
 * when the queue counts items. A job holding only APPEND_NEW events is
 * marked fresh_when_finished, unless it is a keyed fold's. The events of
 * a route with a fold_write (es_route, set on its first event's entry)
 * make one job, whatever their number, and it gets a copy of the
 * fold_write when it holds exactly its events. 0, or -1 with a diag. */
int job_batch_add_projections(job_batch *b, const es_event *events,
                              es_new_event *const *routes, const char *const *origins,
                              const append_outcome *outcomes, size_t n,
                              size_t fold_events_per_job, int64_t now);

/* Adds the job of reactor job rj, produced by folding event ev in
 * `pipeline`: its id derives from the event's id and the reactor (a redo
 * dedupes), it is due after rj's delay, carries ev and the fold state after
 * it, and is deduped as rj asks. 0, or -1 with a diag. */
int job_batch_add_reactor(job_batch *b, const es_reactor_job *rj, const es_event *ev,
                          const char *pipeline, const char *origin, int64_t now);

#endif
