/* inline_projections.h: the projections of a command batch's events applied
 * by the batch itself, instead of as queued fold and map jobs, when the
 * queue shares the batch's transaction (SQLite, memory). The events, fold
 * states, records, reactor jobs and the claim's completion then commit
 * together or not at all, and the events never travel through the queue.
 *
 * Scripts never run inside the transaction (a slow fold must not hold the
 * store's write lock): before it, inline_projections_prepare predicts the
 * events' seqs, reads the fold states and runs the folds and maps; inside
 * it, inline_projections_commit writes only what it can verify is what a
 * queued job would have written:
 *   - the events were appended as new, with the seqs predicted;
 *   - a fold's group has no job (none pending, in flight or parked: FIFO
 *     and exactly-once hold) and its stored state is the one folded from;
 *   - no pause holds the fold or map.
 * Keyed folds (their last_seq is a queue position), custom stores, script
 * errors and failed checks leave a route to its queued job, which retries,
 * parks and reports as any job does. The routes applied are marked
 * (es_route.applied) and get no job. */
#ifndef ES_INLINE_PROJECTIONS_H
#define ES_INLINE_PROJECTIONS_H

#include "job_batch.h"
#include "lua_host.h"
#include "store.h"

/* What prepare computed, for commit. */
typedef struct inline_plan inline_plan;

/* Runs, outside any unit of work, the folds and maps that n events about to
 * be appended at `now` on backends b would reach (routes[i] of events[i]);
 * the events must be of one aggregate, and get their predicted seq and
 * created_at. NULL when nothing can be applied this way (also on a failed
 * read or out of memory: the routes then simply get jobs). */
inline_plan *inline_projections_prepare(es_backends *b, lua_host *host, es_event *events,
                                        es_new_event *const *routes, size_t n, int64_t now);

/* Inside the unit of work that appended the events (as event_append left
 * them, with outcomes): writes the fold states and records of plan p that
 * pass the checks above, adds reactor jobs (origins[i] of events[i]) to
 * jobs, and marks their routes applied. 0, or -1 with a diag when a store
 * fails (the unit must roll back). */
int inline_projections_commit(inline_plan *p, es_backends *b, const es_event *events,
                              const append_outcome *outcomes, const char *const *origins,
                              int64_t now, job_batch *jobs);

void inline_plan_free(inline_plan *p);

/* The queue's pauses as one command batch's inline maps and folds see
 * them: read once (pause_list) when the first of them asks, rather than a
 * read per component. Zeroed before use; inline_pauses_clear frees it. */
typedef struct inline_pauses {
    int loaded;
    int oom; /* a copy failed while reading: not to be used */
    es_pause *list;
    size_t n, cap;
} inline_pauses;

void inline_pauses_clear(inline_pauses *ps);

/* When the queue is a store apart and the others make writes durable later
 * (Redis with ClickHouse: no transaction spans the queue, and no store
 * lock is held inside a unit): inside the unit that appended n events
 * (outcomes as event_append left them, seqs assigned), runs the map routes
 * (routes[i] of events[i]) of the events appended new and appends their
 * records in the same unit, so they become durable with the events and
 * need no queued job; those routes are marked applied. A custom store, a
 * paused map or a script error leaves the route to its queued job, which
 * retries, parks and reports as any job does. 0, or -1 with a diag when a
 * store fails (the unit must roll back). */
int inline_maps_apply(es_backends *b, lua_host *host, const es_event *events,
                      const append_outcome *outcomes, es_new_event *const *routes, size_t n,
                      inline_pauses *pauses, int64_t now);

/* When the queue can write fold states at a claim's finish
 * (es_store_ops.queue_writes_folds; Redis with ClickHouse, the fold store
 * a mirror of Redis): inside the unit that appended n events, runs the
 * folds (routes[i] of events[i]) whose events were all appended new,
 * without origins[i], from the state of record when its last seq is the
 * one just before them; puts the result into the queryable copy in the
 * same unit (durable with the events), and sets it as the fold_write of
 * the route of the fold's first event (es_route), for its job to carry.
 * The finish then
 * writes the state of record instead of enqueueing the job if the fold's
 * group has no job (none of its events waits) and the stored state and
 * seq are still those it was folded from (es_job.fold_write). Keyed
 * folds, custom stores, paused folds, reactors, script errors and any
 * other state leave the job to run as usual. 0, or -1 with a diag when a
 * store fails (the unit must roll back). */
int inline_folds_run(es_backends *b, lua_host *host, const es_event *events,
                     const append_outcome *outcomes, es_new_event *const *routes,
                     const char *const *origins, size_t n, inline_pauses *pauses, int64_t now);

#endif
