/* redis_enqueue_group.c: group commit of enqueues on one Redis store.
 * Threads that enqueue while FLIGHTS other enqueues are on the wire queue
 * here; when one returns, the first of them becomes a leader and sends the
 * jobs of every queued caller in one go (one script call per chunk, see
 * redis_queue.c), then releases them all with the outcome. Concurrent
 * senders (HTTP threads, `send` callers, workers enqueueing projection
 * jobs) thus share script calls and round trips instead of paying one
 * each; a lone caller goes straight through. Each caller returns only
 * once the call that carried its jobs has returned, so one caller's jobs
 * keep their order; those of concurrent callers have none to keep. */
#include "redis_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

/* Groups on the wire at once: with one, Redis idled while the leader's
 * reply travelled back and the next leader built its call (bench/clickhouse
 * enqueue phase); the next group is now sent meanwhile. */
#define FLIGHTS 2

/* One waiting enqueue and, once done, its outcome. */
struct redis_enqueue_req {
    const es_job *jobs;
    size_t n;
    int64_t now;
    int rc;
    int taken; /* by a leader, in the group it sends */
    int done;
    diag_code code; /* the diag of a failure, replayed in the caller's thread */
    char message[1024];
    redis_enqueue_req *next;
};

void redis_enqueue_group_init(redis_enqueue_group *g)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
}

void redis_enqueue_group_destroy(redis_enqueue_group *g)
{
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
}

/* Sends the requests of list `head` as one enqueue (jobs in list order,
 * at the latest `now` among them, so that no job is due later than its
 * caller asked) and records the outcome in each. */
static void send_group(redis_store *rs, redis_enqueue_req *head)
{
    size_t total = 0;
    int64_t now = head->now;
    for (redis_enqueue_req *r = head; r; r = r->next) {
        total += r->n;
        if (r->now > now) now = r->now;
    }
    int rc;
    if (!head->next) {
        rc = redis_queue_enqueue_now(rs, head->jobs, head->n, now);
    } else {
        es_job *all = malloc(total * sizeof *all);
        if (all) {
            size_t at = 0;
            for (redis_enqueue_req *r = head; r; r = r->next) {
                memcpy(all + at, r->jobs, r->n * sizeof *all); /* shallow: borrowed */
                at += r->n;
            }
            rc = redis_queue_enqueue_now(rs, all, total, now);
            free(all);
        } else {
            diag_set(DIAG_INTERNAL, "out of memory grouping enqueues");
            rc = -1;
        }
    }
    for (redis_enqueue_req *r = head; r; r = r->next) {
        r->rc = rc;
        if (rc != 0) {
            r->code = diag_code_get();
            snprintf(r->message, sizeof r->message, "%s", diag_message());
        }
    }
}

int redis_enqueue_grouped(redis_store *rs, const es_job *jobs, size_t n, int64_t now)
{
    redis_enqueue_group *g = &rs->enqueue_group;
    redis_enqueue_req self = {.jobs = jobs, .n = n, .now = now};
    pthread_mutex_lock(&g->lock);
    if (g->tail) g->tail->next = &self;
    else g->head = &self;
    g->tail = &self;
    while (!self.done && (self.taken || g->sending >= FLIGHTS))
        pthread_cond_wait(&g->cond, &g->lock);
    if (!self.done) {
        /* a leader: take the whole queue (self is in it) */
        redis_enqueue_req *head = g->head;
        g->head = g->tail = NULL;
        for (redis_enqueue_req *r = head; r; r = r->next) r->taken = 1;
        g->sending++;
        pthread_mutex_unlock(&g->lock);
        send_group(rs, head);
        pthread_mutex_lock(&g->lock);
        for (redis_enqueue_req *r = head; r; r = r->next) r->done = 1;
        g->sending--;
        pthread_cond_broadcast(&g->cond);
    }
    pthread_mutex_unlock(&g->lock);
    if (self.rc != 0) diag_set(self.code, "%s", self.message);
    return self.rc;
}
