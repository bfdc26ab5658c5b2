/* claim_finish.h: finishing a claimed batch (claim_finish.c). */
#ifndef ES_CLAIM_FINISH_H
#define ES_CLAIM_FINISH_H

#include "deferred_ack.h"
#include "engine_internal.h"

/* Completes claim c (its n_done jobs) or, when error is set, fails its job
 * n_done: retried at a backoff time, or parked after max_attempts (logged,
 * counted in the metrics). Inside the caller's unit of work on a store
 * whose queue shares it. 0, or -1 with a diag (DIAG_CONFLICT: the claim
 * went stale). */
int claim_finish(es_engine *e, const es_claim *c, size_t n_done, const char *error,
                 int64_t now);

/* Finishes units whose writes became durable (a deferred_finish_fn; engine
 * is the es_engine): their jobs enqueued, then their claims finished, in
 * slices of about 512 kB of jobs, in order. Failures are logged; a unit
 * not finished is redelivered when its lease expires. */
void claim_finish_durable(void *engine, const deferred_ready *units, size_t n);

#endif
