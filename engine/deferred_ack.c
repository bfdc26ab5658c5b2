/* deferred_ack.c: units acknowledged once their writes are durable (see
 * deferred_ack.h). */
#include "deferred_ack.h"
#include "clock.h"
#include "log.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct deferred_unit {
    deferred_unit *next;
    es_claim claim;     /* what finishing needs of the claim (claim_copy), owned */
    size_t n_done;
    char *error;
    es_job *jobs;       /* owned */
    size_t n_jobs;
    atomic_int waits;   /* done callbacks still expected */
    atomic_int failed;  /* some store reported the writes lost */
};

static void unit_free(deferred_unit *u)
{
    store_claim_clear(&u->claim);
    for (size_t i = 0; i < u->n_jobs; i++) job_clear(&u->jobs[i]);
    free(u->jobs);
    free(u->error);
    free(u);
}

/* Copies into dst what finishing a claim reads (worker.c finish_claim and
 * the stores' queue_complete, queue_fail, queue_extend): its group, token,
 * lease and job count, its first job (metrics, logs) and, when the unit
 * failed at job n_done, that job (retry, parking, its skip record). The
 * other jobs stay zeroed: copying every command's payload again cost about
 * 3% of the engine's CPU in bench/clickhouse. 0, or -1 on OOM (dst then
 * holds what was copied, for store_claim_clear). */
static int claim_copy(es_claim *dst, const es_claim *src, size_t n_done, int failed)
{
    dst->token = src->token;
    dst->lease_until = src->lease_until;
    dst->group_key = strdup(src->group_key);
    dst->jobs = calloc(src->n ? src->n : 1, sizeof *dst->jobs);
    if (!dst->group_key || !dst->jobs) return -1;
    dst->n = src->n;
    if (src->n && job_copy(&dst->jobs[0], &src->jobs[0]) != 0) return -1;
    if (failed && n_done > 0 && n_done < src->n &&
        job_copy(&dst->jobs[n_done], &src->jobs[n_done]) != 0)
        return -1;
    return 0;
}

deferred_unit *deferred_new(const es_claim *claim, size_t n_done, const char *error,
                            es_job *jobs, size_t n_jobs, int waits)
{
    deferred_unit *u = calloc(1, sizeof *u);
    if (u) {
        u->jobs = jobs;
        u->n_jobs = n_jobs;
        u->n_done = n_done;
        u->error = error ? strdup(error) : NULL;
        atomic_init(&u->waits, waits);
        atomic_init(&u->failed, 0);
        if (claim_copy(&u->claim, claim, n_done, error != NULL) == 0 && (!error || u->error))
            return u;
        unit_free(u);
        return NULL;
    }
    for (size_t i = 0; i < n_jobs; i++) job_clear(&jobs[i]);
    free(jobs);
    return NULL;
}

void deferred_done(void *ud, int status)
{
    deferred_unit *u = ud;
    if (status != 0) atomic_store(&u->failed, 1);
    atomic_fetch_sub(&u->waits, 1);
}

void deferred_list_init(deferred_list *list)
{
    memset(list, 0, sizeof *list);
    pthread_mutex_init(&list->lock, NULL);
}

void deferred_list_destroy(deferred_list *list) { pthread_mutex_destroy(&list->lock); }

void deferred_push(deferred_list *list, deferred_unit *unit)
{
    pthread_mutex_lock(&list->lock);
    unit->next = list->head;
    list->head = unit;
    list->count++;
    pthread_mutex_unlock(&list->lock);
}

void deferred_each_claim(deferred_list *list, void (*fn)(void *ud, es_claim *claim),
                         void *ud)
{
    pthread_mutex_lock(&list->lock);
    for (deferred_unit *u = list->head; u; u = u->next)
        if (atomic_load(&u->waits) > 0) fn(ud, &u->claim);
    pthread_mutex_unlock(&list->lock);
}

void deferred_discard(deferred_unit *unit) { unit_free(unit); }

/* Hands the ready units of chain `ready` (oldest first) to finish, in one
 * call (one at a time when the array cannot be had), and frees them. */
static void finish_ready(deferred_unit *ready, size_t n, deferred_finish_fn finish, void *ctx)
{
    deferred_ready one, *units = n > 1 ? malloc(n * sizeof *units) : NULL;
    size_t k = 0;
    for (deferred_unit *u = ready; u; u = u->next) {
        deferred_ready *r = units ? &units[k++] : &one;
        *r = (deferred_ready){&u->claim, u->n_done, u->error, u->jobs, u->n_jobs};
        if (!units) finish(ctx, r, 1);
    }
    if (units) finish(ctx, units, k);
    free(units);
    while (ready) {
        deferred_unit *u = ready;
        ready = u->next;
        unit_free(u);
    }
}

size_t deferred_collect(deferred_list *list, deferred_finish_fn finish, void *ctx,
                        int64_t wait_ms)
{
    int64_t deadline = clock_monotonic_ms() + wait_ms;
    for (;;) {
        /* detach the durable units; the list is newest first, so the
         * chain they form (each put at its front) is oldest first */
        deferred_unit *ready = NULL;
        size_t n_ready = 0;
        pthread_mutex_lock(&list->lock);
        deferred_unit **link = &list->head;
        while (*link) {
            deferred_unit *u = *link;
            if (atomic_load(&u->waits) > 0) {
                link = &u->next;
                continue;
            }
            *link = u->next;
            list->count--;
            if (atomic_load(&u->failed)) {
                log_warn_limited("deferred_lost", "writes of a %s batch were not stored; "
                                 "its claim expires and is redelivered",
                                 job_kind_name(u->claim.jobs[0].kind));
                unit_free(u);
                continue;
            }
            u->next = ready;
            ready = u;
            n_ready++;
        }
        size_t left = list->count;
        pthread_mutex_unlock(&list->lock);
        if (ready) finish_ready(ready, n_ready, finish, ctx);
        if (left == 0 || wait_ms <= 0 || clock_monotonic_ms() >= deadline) return left;
        clock_sleep_ms(2);
    }
}
