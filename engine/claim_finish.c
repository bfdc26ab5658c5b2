/* claim_finish.c: how a worker finishes a claimed batch: completes it, or
 * fails its first unfinished job with a retry time or parks it (metrics and
 * logs), and, for stores that make writes durable later (ClickHouse), how
 * the units found durable are finished together (see claim_finish.h). */
#include "claim_finish.h"

#include "clock.h"
#include "diag.h"
#include "log.h"
#include "metrics.h"
#include "retry.h"

#include <stdlib.h>
#include <string.h>

/* Counts the n_done jobs of claim c that are done (metrics, engine total). */
static void count_done(es_engine *e, const es_claim *c, size_t n_done)
{
    if (n_done > 0)
        metrics_add(METRIC_JOBS_PROCESSED, (double)(n_done < c->n ? n_done : c->n),
                    c->jobs[0].pipeline, c->jobs[0].component, job_kind_name(c->jobs[0].kind));
    atomic_fetch_add(&e->jobs_done, (long long)(n_done < c->n ? n_done : c->n));
}

/* True when finishing the claim completes it whole (no failure to record). */
static int finishes_whole(const es_claim *c, size_t n_done, const char *error)
{
    return !error || n_done >= c->n;
}

int claim_finish(es_engine *e, const es_claim *c, size_t n_done, const char *error,
                 int64_t now)
{
    es_store *q = e->backends.queue;
    count_done(e, c, n_done);
    if (finishes_whole(c, n_done, error)) return q->ops->queue_complete(q, c, c->n, now);
    int attempts = c->jobs[n_done].attempts + 1;
    int64_t retry_at =
        now + retry_delay_ms(attempts, e->opt.retry_base_ms, e->opt.retry_max_ms);
    const es_job *head = &c->jobs[n_done];
    const char *kind = job_kind_name(head->kind);
    metrics_inc(METRIC_JOBS_FAILED, head->pipeline, head->component, kind);
    metrics_inc(attempts >= e->opt.max_attempts ? METRIC_JOBS_PARKED : METRIC_JOBS_RETRIED,
                head->pipeline, head->component, kind);
    if (attempts >= e->opt.max_attempts)
        log_error("%s %s/%s job %s parked after %d attempts: %s", job_kind_name(head->kind),
                  head->pipeline, head->component, head->id, attempts, error);
    else
        log_warn_limited("job_failed", "%s %s/%s job %s failed (attempt %d of %d): %s",
                         job_kind_name(head->kind), head->pipeline, head->component,
                         head->id, attempts, e->opt.max_attempts, error);
    return q->ops->queue_fail(q, c, n_done, error, retry_at, e->opt.max_attempts, now);
}

/* Logs a deferred claim that could not be finished (a stale token is not
 * news: the batch ran again elsewhere). */
static void log_unfinished(const es_claim *c)
{
    if (diag_code_get() != DIAG_CONFLICT)
        log_error_limited("deferred_finish", "%s batch of %s not acknowledged: %s",
                          job_kind_name(c->jobs[0].kind), c->jobs[0].pipeline, diag_message());
}

/* Enqueues the jobs of units[0..n) in one enqueue, then finishes each
 * claim. When the enqueue fails no claim is finished: all are
 * redelivered. */
static void enqueue_then_finish(es_engine *e, const deferred_ready *units, size_t n,
                                int64_t now)
{
    es_store *q = e->backends.queue;
    size_t n_jobs = 0;
    for (size_t i = 0; i < n; i++) n_jobs += units[i].n_jobs;
    es_job *jobs = n_jobs ? malloc(n_jobs * sizeof *jobs) : NULL;
    if (n_jobs && !jobs) {
        diag_set(DIAG_INTERNAL, "out of memory");
        log_unfinished(units[0].claim);
        return;
    }
    for (size_t i = 0, at = 0; i < n; at += units[i].n_jobs, i++)
        if (units[i].n_jobs) /* a unit without jobs may have none allocated */
            memcpy(jobs + at, units[i].jobs, units[i].n_jobs * sizeof *jobs); /* borrowed */
    if (n_jobs && q->ops->queue_enqueue(q, jobs, n_jobs, now) != 0) {
        log_unfinished(units[0].claim);
    } else {
        for (size_t i = 0; i < n; i++)
            if (claim_finish(e, units[i].claim, units[i].n_done, units[i].error, now) != 0)
                log_unfinished(units[i].claim);
    }
    free(jobs);
}

/* Counts the events of the fold jobs among jobs[0..n) that the finish
 * dropped because it wrote their fold state (bit k of `written`: jobs[k],
 * queue_finish_many) as projected inline. */
static void count_fold_writes(const es_job *jobs, size_t n, int written)
{
    for (size_t k = 0; k < n && k < 31 && written; k++)
        if (written & (1 << k))
            metrics_add(METRIC_EVENTS_INLINE, (double)job_items(&jobs[k]), jobs[k].pipeline,
                        jobs[k].component, job_kind_name(jobs[k].kind));
}

/* Finishes units[0..n): those that finish whole with their jobs in one
 * queue_finish_many where the store has it (each claim and its jobs
 * atomically), the others (a failure to record) as enqueue_then_finish. */
static void finish_slice(es_engine *e, const deferred_ready *units, size_t n)
{
    es_store *q = e->backends.queue;
    int64_t now = clock_now_ms();
    if (!q->ops->queue_finish_many) {
        enqueue_then_finish(e, units, n, now);
        return;
    }
    const es_claim **claims = malloc(n * sizeof *claims);
    const es_job **jobs = malloc(n * sizeof *jobs);
    size_t *n_jobs = malloc(n * sizeof *n_jobs);
    int *status = malloc(n * sizeof *status);
    deferred_ready *partial = malloc(n * sizeof *partial);
    size_t n_whole = 0, n_partial = 0;
    if (!claims || !jobs || !n_jobs || !status || !partial) {
        diag_set(DIAG_INTERNAL, "out of memory");
        log_unfinished(units[0].claim);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const deferred_ready *u = &units[i];
        if (!finishes_whole(u->claim, u->n_done, u->error)) {
            partial[n_partial++] = *u;
            continue;
        }
        claims[n_whole] = u->claim;
        jobs[n_whole] = u->jobs;
        n_jobs[n_whole++] = u->n_jobs;
    }
    if (n_partial) enqueue_then_finish(e, partial, n_partial, now);
    if (!n_whole) goto out;
    if (q->ops->queue_finish_many(q, claims, jobs, n_jobs, n_whole, now, status) != 0) {
        log_unfinished(claims[0]);
        goto out;
    }
    /* a stale token (status -1) is not logged, as log_unfinished says */
    for (size_t i = 0; i < n_whole; i++)
        if (status[i] >= 0) {
            count_done(e, claims[i], claims[i]->n);
            count_fold_writes(jobs[i], n_jobs[i], status[i]);
        }
out:
    free(claims);
    free(jobs);
    free(n_jobs);
    free(status);
    free(partial);
}

/* Payload bytes of the jobs one slice of durable units enqueues, at least
 * one unit. One flush makes ~100 units of a worker durable, a command
 * unit's fold and map jobs are ~90 kB: all in one go would make enqueues
 * of megabytes, built by the worker and run by Redis out of their caches. */
#define FINISH_SLICE_BYTES (512u << 10)

void claim_finish_durable(void *engine, const deferred_ready *units, size_t n)
{
    size_t from = 0;
    while (from < n) {
        size_t to = from, bytes = 0;
        while (to < n && (to == from || bytes < FINISH_SLICE_BYTES)) {
            for (size_t j = 0; j < units[to].n_jobs; j++) bytes += units[to].jobs[j].payload_len;
            to++;
        }
        finish_slice(engine, units + from, to - from);
        from = to;
    }
}

