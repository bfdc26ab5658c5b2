/* deferred_ack.h: claims acknowledged later. With a store that commits
 * asynchronously (ClickHouse batches rows from all threads into one INSERT
 * every few hundred ms), a worker does not wait for durability: it parks the
 * unit's follow-up (jobs to enqueue, claim to complete) here and keeps
 * claiming; when the store reports the writes durable, the same worker
 * enqueues and completes. The claim keeps its group meanwhile (the
 * heartbeat extends its lease, deferred_each_claim), so per-group order
 * holds and a slow store does not get the batch redone elsewhere; if the
 * writes fail the claim is left to expire and is redelivered (ids are
 * deterministic, the redo is idempotent). */
#ifndef ES_DEFERRED_ACK_H
#define ES_DEFERRED_ACK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct deferred_unit deferred_unit;

/* A worker's units waiting for durability. One per worker: only its worker
 * pushes and collects (and reads count); the done callbacks come from the
 * store's threads, deferred_each_claim from the heartbeat thread. */
typedef struct deferred_list {
    deferred_unit *head;
    size_t count;
    pthread_mutex_t lock; /* guards the links against deferred_each_claim */
} deferred_list;

void deferred_list_init(deferred_list *list);
void deferred_list_destroy(deferred_list *list); /* after a final collect */

/* Calls fn(ud, claim) for the claim of every unit still waiting (the
 * heartbeat extends their leases). Thread-safe against the list's worker. */
void deferred_each_claim(deferred_list *list, void (*fn)(void *ud, es_claim *claim),
                         void *ud);

/* Builds a unit: copies what finishing the claim needs (its group, token,
 * lease, job count, first job and, with error, job n_done; the other jobs
 * of the copy are zeroed), takes ownership of jobs[0..n_jobs)
 * (malloc'd array; the caller must not free it) and copies error. `waits`
 * is the number of done callbacks to expect. NULL on OOM (jobs then freed). */
deferred_unit *deferred_new(const es_claim *claim, size_t n_done, const char *error,
                            es_job *jobs, size_t n_jobs, int waits);

/* The callback for backends_tx_commit_async: `ud` is the unit. */
void deferred_done(void *ud, int status);

/* Adds a unit to the list (after its commit was started). */
void deferred_push(deferred_list *list, deferred_unit *unit);

/* Frees a unit that was never pushed (its commit failed to start). */
void deferred_discard(deferred_unit *unit);

/* A unit whose writes are durable, as its finish is handed it: its claim
 * (what deferred_new copied), n_done, error, and the jobs to enqueue. */
typedef struct deferred_ready {
    const es_claim *claim;
    size_t n_done;
    const char *error;
    const es_job *jobs;
    size_t n_jobs;
} deferred_ready;

/* What to do with the units[0..n) whose writes are durable (in the order
 * they were pushed): enqueue their jobs, then finish their claims; all at
 * once, so that a store saves round trips. */
typedef void (*deferred_finish_fn)(void *ctx, const deferred_ready *units, size_t n);

/* Calls finish once with every unit whose writes are durable and frees
 * them; units whose writes failed are dropped (their claims expire and are
 * redelivered). With wait_ms > 0, waits up to that long for the list to
 * become empty. Returns the number of units still waiting. */
size_t deferred_collect(deferred_list *list, deferred_finish_fn finish, void *ctx,
                        int64_t wait_ms);

#endif
