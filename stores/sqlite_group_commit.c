/* sqlite_group_commit.c: group commit on the shared connection. Writers
 * that arrive while a transaction is being written queue here; the first
 * of them to find no transaction running becomes the leader and writes the
 * whole queue in one transaction (one BEGIN, one COMMIT, one WAL append of
 * the pages the writes share), then releases every writer of its group.
 * The leader takes the shared connection before it takes the queue, so
 * the writes that arrive while a worker's unit holds the connection join
 * the leader's transaction instead of waiting for the next one.
 * The HTTP threads' enqueues meet here: under load each commit carries
 * several requests instead of one, and each request is acknowledged only
 * after the commit that holds its jobs.
 * A waiting leader goes before the next unit of work of the workers
 * (sqlite_group_yield): with HTTP and workers in one process (role all),
 * the workers' units held shared_mu 55% of the time and, the mutex being
 * unfair, a leader waited for several units in a row (measured: 63 ms at
 * p99, 125 ms at most, for units of 25 ms at p99).
 * Each waiting writer sleeps on its own condition variable: a finished
 * group wakes its writers and the next leader only, not every thread
 * queued behind (with a thread per HTTP connection, a broadcast per commit
 * woke up to all of them for nothing, on two cores). */
#include "sqlite_internal.h"

#include "diag.h"

#include <stdio.h>

/* One waiting write and, once done, its outcome. */
typedef struct sqlite_group_req {
    sqlite_write_fn fn;
    void *ud;
    int rc;
    int done;
    diag_code code;    /* the diag of a failure, replayed in the writer's thread */
    char message[1024];
    pthread_cond_t cv; /* signalled when done, or when it may lead */
    struct sqlite_group_req *next;
} sqlite_group_req;

/* Records the calling thread's diag as r's outcome. */
static void req_fail(sqlite_group_req *r)
{
    r->rc = -1;
    r->code = diag_code_get();
    snprintf(r->message, sizeof r->message, "%s", diag_message());
}

/* Runs r alone in its own transaction. */
static void req_run_alone(sqlite_store *s, sqlite_group_req *r)
{
    sqlite_conn *c;
    int own;
    if (sqlite_write_begin(s, &c, &own) != 0) {
        req_fail(r);
        return;
    }
    r->rc = r->fn(c, r->ud);
    if (r->rc != 0) req_fail(r);
    if (sqlite_write_end(s, c, own, r->rc) != 0 && r->rc == 0) req_fail(r);
}

/* Runs a group (a list of requests) in one transaction; when anything
 * fails, rolls it back and runs each request alone. */
static void group_run(sqlite_store *s, sqlite_group_req *group)
{
    if (!group->next) {
        req_run_alone(s, group);
        return;
    }
    sqlite_conn *c;
    int own;
    if (sqlite_write_begin(s, &c, &own) != 0) {
        for (sqlite_group_req *r = group; r; r = r->next) req_fail(r);
        return;
    }
    int rc = 0;
    for (sqlite_group_req *r = group; r && rc == 0; r = r->next) rc = r->rc = r->fn(c, r->ud);
    if (sqlite_write_end(s, c, own, rc) == 0 && rc == 0) return;
    for (sqlite_group_req *r = group; r; r = r->next) req_run_alone(s, r);
}

int sqlite_group_write(sqlite_store *s, sqlite_write_fn fn, void *ud)
{
    sqlite_group_req req = {.fn = fn, .ud = ud};
    if (sqlite_shared_held(s)) {
        req_run_alone(s, &req);
    } else {
        pthread_cond_init(&req.cv, NULL);
        pthread_mutex_lock(&s->group_mu);
        if (s->group_tail) s->group_tail->next = &req;
        else s->group_head = &req;
        s->group_tail = &req;
        while (!req.done) {
            if (s->group_busy) {
                pthread_cond_wait(&req.cv, &s->group_mu);
                continue;
            }
            /* the writes queued while the leader waits for the shared
             * connection (a worker's unit holds it) join its group */
            s->group_busy = 1;
            atomic_store(&s->group_leader_waiting, 1);
            pthread_mutex_unlock(&s->group_mu);
            sqlite_shared_lock(s);
            pthread_mutex_lock(&s->group_mu);
            atomic_store(&s->group_leader_waiting, 0);
            s->group_epoch++;
            if (s->group_yielders) pthread_cond_broadcast(&s->group_cv);
            sqlite_group_req *group = s->group_head;
            s->group_head = s->group_tail = NULL;
            pthread_mutex_unlock(&s->group_mu);
            group_run(s, group);
            sqlite_shared_unlock(s);
            pthread_mutex_lock(&s->group_mu);
            /* the writers of the group wake up done (they leave once this
             * thread releases group_mu), then the head of the queue leads */
            for (sqlite_group_req *r = group; r; r = r->next) {
                r->done = 1;
                if (r != &req) pthread_cond_signal(&r->cv);
            }
            s->group_busy = 0;
            if (s->group_head) pthread_cond_signal(&s->group_head->cv);
        }
        pthread_mutex_unlock(&s->group_mu);
        pthread_cond_destroy(&req.cv);
    }
    if (req.rc != 0) diag_set(req.code, "%s", req.message);
    return req.rc;
}

void sqlite_group_yield(sqlite_store *s)
{
    if (!atomic_load(&s->group_leader_waiting) || sqlite_shared_held(s)) return;
    pthread_mutex_lock(&s->group_mu);
    uint64_t seen = s->group_epoch;
    s->group_yielders++;
    while (atomic_load(&s->group_leader_waiting) && s->group_epoch == seen)
        pthread_cond_wait(&s->group_cv, &s->group_mu);
    s->group_yielders--;
    pthread_mutex_unlock(&s->group_mu);
}
