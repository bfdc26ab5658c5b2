/* test_store_memory.c: the memory store: the shared conformance suite plus
 * checks of what only it promises (units of work, waiting claims, threads). */
#include "store_conformance.h"

#include "clock.h"
#include "memory_store.h"

#include <pthread.h>

static es_store *open_memory(void *ud)
{
    (void)ud;
    return memory_store_open();
}

static es_job job_make(const char *id, const char *group, const char *payload,
                       int64_t run_at)
{
    return conformance_job(id, group, payload, run_at);
}

/* A rolled-back unit leaves nothing: events, jobs, folds, records. */
static void test_tx_rollback(void)
{
    es_store *s = memory_store_open();
    es_event ev = conformance_event("t1", "a1", "e1", NULL);
    append_outcome o;
    es_job j = job_make("j1", "gA", "p", CONF_T0);
    CHECK_INT(s->ops->tx_begin(s), 0);
    CHECK_INT(s->ops->event_append(s, &ev, 1, CONF_T0, &o), 0);
    CHECK_INT(s->ops->queue_enqueue(s, &j, 1, CONF_T0), 0);
    CHECK_INT(s->ops->fold_put(s, "t1", "f", "a1", "{}", 1, CONF_T0), 0);
    CHECK_INT(s->ops->record_append(s, "t1", "r", "r1", "a1", "{}", CONF_T0), 0);
    /* the unit reads its own event and fold writes */
    char *state = NULL;
    int64_t last = 0;
    CHECK_INT(s->ops->fold_get(s, "t1", "f", "a1", &state, &last), 0);
    free(state);
    s->ops->tx_rollback(s);

    conformance_events c = conformance_read(s, "t1", "a1", 0, 0);
    CHECK_INT(c.n, 0);
    CHECK_INT(s->ops->fold_get(s, "t1", "f", "a1", &state, &last), 1);
    conformance_records r;
    memset(&r, 0, sizeof r);
    CHECK_INT(s->ops->record_list(s, "t1", "r", 0, conformance_collect_record, &r), 0);
    CHECK_INT(r.n, 0);
    es_claim a;
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &a), 1);

    /* the same writes again get the same seq and are kept on commit */
    ev = conformance_event("t1", "a1", "e1", NULL);
    CHECK_INT(s->ops->tx_begin(s), 0);
    CHECK_INT(s->ops->event_append(s, &ev, 1, CONF_T0, &o), 0);
    CHECK_INT(o, APPEND_NEW);
    CHECK_INT(ev.seq, 1);
    CHECK_INT(s->ops->queue_enqueue(s, &j, 1, CONF_T0), 0);
    CHECK_INT(s->ops->record_append(s, "t1", "r", "r1", "a1", "{}", CONF_T0), 0);
    CHECK_INT(s->ops->tx_commit(s), 0);
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &a), 0);
    CHECK_INT(a.n, 1);
    memset(&r, 0, sizeof r);
    CHECK_INT(s->ops->record_list(s, "t1", "r", 0, conformance_collect_record, &r), 0);
    CHECK_INT(r.n, 1);

    /* a completion inside a rolled-back unit is undone too */
    CHECK_INT(s->ops->tx_begin(s), 0);
    CHECK_INT(s->ops->queue_complete(s, &a, 1, CONF_T0), 0);
    s->ops->tx_rollback(s);
    CHECK_INT(s->ops->queue_complete(s, &a, 1, CONF_T0), 0);
    store_claim_clear(&a);
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &a), 1);
    s->ops->close(s);
}

/* A fold overwrite rolled back restores the previous state and seq. */
static void test_tx_fold_restore(void)
{
    es_store *s = memory_store_open();
    CHECK_INT(s->ops->fold_put(s, "t1", "f", "a1", "{\"n\":1}", 1, CONF_T0), 0);
    CHECK_INT(s->ops->tx_begin(s), 0);
    CHECK_INT(s->ops->fold_put(s, "t1", "f", "a1", "{\"n\":2}", 2, CONF_T0), 0);
    CHECK_INT(s->ops->fold_put(s, "t1", "f", "a1", "{\"n\":3}", 3, CONF_T0), 0);
    s->ops->tx_rollback(s);
    char *state = NULL;
    int64_t last = 0;
    CHECK_INT(s->ops->fold_get(s, "t1", "f", "a1", &state, &last), 0);
    CHECK_STR(state, "{\"n\":1}");
    CHECK_INT(last, 1);
    free(state);
    /* nested units are refused */
    CHECK_INT(s->ops->tx_begin(s), 0);
    CHECK_INT(s->ops->tx_begin(s), -1);
    CHECK_INT(s->ops->tx_commit(s), 0);
    CHECK_INT(s->ops->tx_commit(s), -1);
    s->ops->close(s);
}

/* A rolled-back enqueue of a new group leaves no empty group behind, and a
 * later enqueue of that group still works. */
static void test_tx_rollback_new_group(void)
{
    es_store *s = memory_store_open();
    es_job j = job_make("j1", "gNew", "p", CONF_T0);
    CHECK_INT(s->ops->tx_begin(s), 0);
    CHECK_INT(s->ops->queue_enqueue(s, &j, 1, CONF_T0), 0);
    CHECK_INT(s->ops->queue_enqueue(s, &j, 1, CONF_T0), 0);
    s->ops->tx_rollback(s);
    int64_t n = -1;
    CHECK_INT(s->ops->queue_origin_pending(s, "cmd-0", 1u << JOB_FOLD, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(s->ops->tx_begin(s), 0);
    CHECK_INT(s->ops->queue_enqueue(s, &j, 1, CONF_T0), 0);
    CHECK_INT(s->ops->queue_enqueue(s, &j, 1, CONF_T0), 0);
    CHECK_INT(s->ops->tx_commit(s), 0);
    CHECK_INT(s->ops->queue_origin_pending(s, "cmd-0", 1u << JOB_FOLD, &n), 0);
    CHECK_INT(n, 1);
    s->ops->close(s);
}

/* Many groups: claims go round-robin and every job runs once, in order. */
static void test_many_groups_fair(void)
{
    es_store *s = memory_store_open();
    enum { GROUPS = 200, PER = 5 };
    char id[32], group[32];
    for (int k = 0; k < PER; k++) {
        for (int g = 0; g < GROUPS; g++) {
            snprintf(id, sizeof id, "j%d-%d", g, k);
            snprintf(group, sizeof group, "g%d", g);
            es_job j = job_make(id, group, "p", CONF_T0);
            CHECK_INT(s->ops->queue_enqueue(s, &j, 1, CONF_T0), 0);
        }
    }
    int next[GROUPS] = {0};
    int claims = 0, out_of_order = 0, unfair = 0;
    es_claim a;
    int64_t t = CONF_T0;
    while (conformance_claim(s, 1, t, &a) == 0) {
        int g = atoi(a.group_key + 1), k = -1;
        sscanf(a.jobs[0].id, "j%*d-%d", &k);
        if (k != next[g]) out_of_order++;
        /* round-robin: every group's k-th job before any group's (k+1)-th */
        if (claims / GROUPS != k) unfair++;
        next[g]++;
        claims++;
        CHECK_INT(s->ops->queue_complete(s, &a, 1, t), 0);
        store_claim_clear(&a);
        t++;
    }
    CHECK_INT(claims, GROUPS * PER);
    CHECK_INT(out_of_order, 0);
    CHECK_INT(unfair, 0);
    s->ops->close(s);
}

typedef struct waiter {
    es_store *s;
    int rc;
    es_claim claim;
} waiter;

static void *waiter_run(void *p)
{
    waiter *w = p;
    w->rc = w->s->ops->queue_claim(w->s, "w2", 10, CONF_T0, CONF_LEASE, 5000, &w->claim);
    return NULL;
}

/* A waiting claim wakes up on enqueue; wait_ms 0 returns at once. */
static void test_claim_wait(void)
{
    es_store *s = memory_store_open();
    es_claim a;
    CHECK_INT(s->ops->queue_claim(s, "w1", 10, CONF_T0, CONF_LEASE, 0, &a), 1);
    CHECK_INT(s->ops->queue_claim(s, "w1", 10, CONF_T0, CONF_LEASE, 30, &a), 1);
    waiter w = {.s = s, .rc = -2};
    pthread_t th;
    pthread_create(&th, NULL, waiter_run, &w);
    clock_sleep_ms(50);
    es_job j = job_make("j1", "gA", "p", CONF_T0);
    CHECK_INT(s->ops->queue_enqueue(s, &j, 1, CONF_T0), 0);
    pthread_join(th, NULL);
    CHECK_INT(w.rc, 0);
    CHECK_INT(w.claim.n, 1);
    CHECK_INT(s->ops->queue_complete(s, &w.claim, 1, CONF_T0), 0);
    store_claim_clear(&w.claim);

    /* a delayed job wakes a waiting claim when it comes due */
    j = job_make("j2", "gA", "p", CONF_T0 + 40);
    CHECK_INT(s->ops->queue_enqueue(s, &j, 1, CONF_T0), 0);
    int64_t t0 = clock_monotonic_ms();
    CHECK_INT(s->ops->queue_claim(s, "w1", 10, CONF_T0, CONF_LEASE, 5000, &a), 0);
    CHECK(clock_monotonic_ms() - t0 < 2000);
    store_claim_clear(&a);
    s->ops->close(s);
}

typedef struct worker {
    es_store *s;
    int done;
    int errors;
} worker;

/* Claims and completes until the queue is empty, appending one event per
 * job inside a unit of work. */
static void *worker_run(void *p)
{
    worker *w = p;
    es_claim a;
    for (;;) {
        int rc = w->s->ops->queue_claim(w->s, "w", 3, CONF_T0, CONF_LEASE, 20, &a);
        if (rc == 1) break;
        if (rc != 0) {
            w->errors++;
            break;
        }
        if (w->s->ops->tx_begin(w->s) != 0) w->errors++;
        for (size_t i = 0; i < a.n; i++) {
            es_event ev = conformance_event("t1", a.group_key, a.jobs[i].id, NULL);
            append_outcome o;
            if (w->s->ops->event_append(w->s, &ev, 1, CONF_T0, &o) != 0 ||
                o != APPEND_NEW || ev.seq != atoi(a.jobs[i].payload))
                w->errors++;
        }
        if (w->s->ops->queue_complete(w->s, &a, a.n, CONF_T0) != 0) w->errors++;
        if (w->s->ops->tx_commit(w->s) != 0) w->errors++;
        w->done += (int)a.n;
        store_claim_clear(&a);
    }
    return NULL;
}

/* Four threads drain 40 groups: one claimant per group keeps every group's
 * events in FIFO order (payload = expected seq). */
static void test_threads(void)
{
    es_store *s = memory_store_open();
    enum { GROUPS = 40, PER = 25, THREADS = 4 };
    char id[32], group[32], payload[16];
    for (int k = 0; k < PER; k++) {
        for (int g = 0; g < GROUPS; g++) {
            snprintf(id, sizeof id, "j%d-%d", g, k);
            snprintf(group, sizeof group, "g%d", g);
            snprintf(payload, sizeof payload, "%d", k + 1);
            es_job j = job_make(id, group, payload, CONF_T0);
            CHECK_INT(s->ops->queue_enqueue(s, &j, 1, CONF_T0), 0);
        }
    }
    worker w[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.s = s};
        pthread_create(&th[i], NULL, worker_run, &w[i]);
    }
    int done = 0, errors = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        done += w[i].done;
        errors += w[i].errors;
    }
    CHECK_INT(done, GROUPS * PER);
    CHECK_INT(errors, 0);
    s->ops->close(s);
}

/* A same-id retry inside one batch, event ids scoped by tenant, and an
 * event without an id refused. */
static void test_event_retry_in_batch(void)
{
    es_store *s = memory_store_open();
    es_event evs[3] = {conformance_event("t1", "a1", "e1", "k1"),
                       conformance_event("t1", "a1", "e1", "k1"),
                       conformance_event("t2", "a1", "e1", "k1")};
    append_outcome out[3];
    CHECK_INT(s->ops->event_append(s, evs, 3, CONF_T0, out), 0);
    CHECK_INT(out[0], APPEND_NEW);
    CHECK_INT(out[1], APPEND_RETRY);
    CHECK_INT(evs[1].seq, 1);
    /* the same ids in another tenant are that tenant's own */
    CHECK_INT(out[2], APPEND_NEW);
    es_event bad = conformance_event("t1", "a1", NULL, NULL);
    diag_clear();
    CHECK_INT(s->ops->event_append(s, &bad, 1, CONF_T0, out), -1);
    CHECK_INT(diag_code_get(), DIAG_INVALID);
    s->ops->close(s);
}

int main(void)
{
    conformance_run(open_memory, NULL);
    RUN_TEST(test_tx_rollback);
    RUN_TEST(test_tx_fold_restore);
    RUN_TEST(test_tx_rollback_new_group);
    RUN_TEST(test_many_groups_fair);
    RUN_TEST(test_claim_wait);
    RUN_TEST(test_threads);
    RUN_TEST(test_event_retry_in_batch);
    return TEST_EXIT();
}
