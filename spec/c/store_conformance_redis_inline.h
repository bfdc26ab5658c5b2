/* store_conformance_redis_inline.h: the queue conformance checks run again
 * with jobs in the Redis queue's inline layout (a job's record inside its
 * list element, stores/redis/queue_lib.lua). The shared checks enqueue
 * jobs with an origin and with ids chosen to repeat, which the queue keeps
 * keyed; here each store's enqueue marks every job fresh (es_job fresh_id)
 * whose id that store was never given before and drops its origin, so
 * such jobs go inline, and a repeated id or a dedup job stays keyed
 * beside them (mixed lists). The checks that read origins are left out,
 * and so is id idempotency: it gives one id again while it is queued,
 * which a fresh id never is (its contract).
 * Include after store_conformance.h. */
#ifndef STORE_CONFORMANCE_REDIS_INLINE_H
#define STORE_CONFORMANCE_REDIS_INLINE_H

#include <stdlib.h>
#include <string.h>

#define INLINE_MAX_IDS 512

/* The ids the store under test was given (one store open at a time). */
static char *inline_ids[INLINE_MAX_IDS];
static size_t inline_n_ids;
static const es_store_ops *inline_base_ops;
static es_store_ops inline_ops;
static conformance_open_fn inline_open_base;

/* 1 when `id` was given before (or the table is full); records it. */
static int inline_seen(const char *id)
{
    for (size_t i = 0; i < inline_n_ids; i++)
        if (strcmp(inline_ids[i], id) == 0) return 1;
    if (inline_n_ids == INLINE_MAX_IDS) return 1;
    inline_ids[inline_n_ids++] = strdup(id);
    return 0;
}

static int inline_enqueue(es_store *s, const es_job *jobs, size_t n, int64_t now)
{
    es_job *copy = malloc((n ? n : 1) * sizeof *copy);
    if (!copy) return -1;
    for (size_t i = 0; i < n; i++) {
        copy[i] = jobs[i];
        int seen = inline_seen(jobs[i].id);
        if (!seen && jobs[i].dedup_mode == DEDUP_NONE) {
            copy[i].fresh_id = 1;
            copy[i].origin_id = NULL;
        }
    }
    int rc = inline_base_ops->queue_enqueue(s, copy, n, now);
    free(copy);
    return rc;
}

static void inline_forget_ids(void)
{
    for (size_t i = 0; i < inline_n_ids; i++) free(inline_ids[i]);
    inline_n_ids = 0;
}

/* A store of inline_open_base whose enqueue is inline_enqueue. */
static es_store *inline_open(void *ud)
{
    es_store *s = inline_open_base(ud);
    if (!s) return NULL;
    inline_forget_ids();
    inline_base_ops = s->ops;
    inline_ops = *s->ops;
    inline_ops.queue_enqueue = inline_enqueue;
    s->ops = &inline_ops;
    return s;
}

#define INLINE_ONE(fn) conformance_one(inline_open, ud, #fn " (inline)", fn)

/* Runs the queue and pause checks above on stores of open_fresh, with
 * jobs inline. */
static void conformance_run_redis_inline(conformance_open_fn open_fresh, void *ud)
{
    inline_open_base = open_fresh;
    INLINE_ONE(conformance_queue_partial_complete);
    INLINE_ONE(conformance_queue_run_at);
    INLINE_ONE(conformance_queue_round_robin);
    INLINE_ONE(conformance_queue_lease);
    INLINE_ONE(conformance_queue_fail_retry);
    INLINE_ONE(conformance_queue_parking);
    INLINE_ONE(conformance_queue_skip_item);
    INLINE_ONE(conformance_queue_debounce);
    INLINE_ONE(conformance_queue_throttle);
    INLINE_ONE(conformance_queue_stats);
    INLINE_ONE(conformance_queue_items);
    INLINE_ONE(conformance_pause_hold_resume);
    INLINE_ONE(conformance_pause_scopes);
    inline_forget_ids();
}

#endif
