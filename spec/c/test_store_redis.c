/* test_store_redis.c: the Redis store against a private redis-server: the
 * shared store conformance suite, then what only a networked queue has:
 * reconnecting through a server restart, claims from concurrent threads,
 * fencing after lease expiry, timely delayed
 * jobs, tenant fairness, the queue conformance checks again with jobs
 * inline. The queue's record layouts (of before, inline) are tested in
 * test_store_redis_layout.c, claims finished with their units' jobs in
 * test_store_redis_finish.c, the event index kept for ClickHouse in
 * test_store_redis_index.c. */
#include "store_conformance.h"
#include "store_conformance_redis_inline.h"
#include "testlib.h"

#include "redis_test_queue.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "clock.h"
#include "diag.h"
#include "redis_int.h"

/* ---- restart ---- */

typedef struct enqueue_call {
    es_store *s;
    int rc;
} enqueue_call;

static void *enqueue_thread(void *arg)
{
    enqueue_call *c = arg;
    es_job j = make_job("after", "t1", "gR", 0);
    c->rc = c->s->ops->queue_enqueue(c->s, &j, 1, clock_now_ms());
    return NULL;
}

static void test_restart_reconnects(void)
{
    es_store *s = open_fresh(NULL);
    CHECK(s != NULL);
    if (!s) return;
    CHECK_INT(redis_store_healthy(s), 1);
    es_job j = make_job("before", "t1", "gR", 0);
    CHECK_INT(s->ops->queue_enqueue(s, &j, 1, clock_now_ms()), 0);

    /* down: health says so, a short-budget call fails with DIAG_IO */
    redis_server_kill(&server);
    CHECK_INT(redis_store_healthy(s), 0);
    redis_store_set_retry_ms(s, 50);
    es_claim c;
    memset(&c, 0, sizeof c);
    CHECK_INT(s->ops->queue_claim(s, "w", 1, clock_now_ms(), 30000, 0, &c), -1);
    CHECK_INT(diag_code_get(), DIAG_IO);

    /* a call made while the server is down completes once it is back, with
     * the scripts loaded again (the new server has none) */
    redis_store_set_retry_ms(s, 20000);
    enqueue_call call = {s, -2};
    pthread_t th;
    pthread_create(&th, NULL, enqueue_thread, &call);
    int spawned = redis_server_spawn(&server);
    CHECK_INT(spawned, 0);
    if (spawned) fprintf(stderr, "restart: %s\n", server.why);
    pthread_join(th, NULL);
    CHECK_INT(call.rc, 0);
    CHECK_INT(redis_store_healthy(s), 1);
    CHECK_INT(s->ops->queue_claim(s, "w", 5, clock_now_ms(), 30000, 0, &c), 0);
    CHECK_INT(c.n, 1);
    if (c.n) CHECK_STR(c.jobs[0].id, "after");
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, clock_now_ms()), 0);
    store_claim_clear(&c);
    s->ops->close(s);
}

/* ---- concurrent claims ---- */

#define CC_GROUPS 20
#define CC_PER_GROUP 30

typedef struct claim_race {
    es_store *s;
    pthread_mutex_t lock;
    int held[CC_GROUPS];     /* claimants holding the group now */
    int next[CC_GROUPS];     /* next expected job index per group */
    int overlaps, disorder, done;
} claim_race;

static void *claim_thread(void *arg)
{
    claim_race *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->lock);
        int finished = r->done == CC_GROUPS * CC_PER_GROUP;
        pthread_mutex_unlock(&r->lock);
        if (finished) break;
        es_claim c;
        memset(&c, 0, sizeof c);
        int rc = r->s->ops->queue_claim(r->s, "w", 3, clock_now_ms(), 30000, 20, &c);
        if (rc != 0) continue;
        int g = atoi(c.group_key + 1);
        pthread_mutex_lock(&r->lock);
        if (r->held[g]++) r->overlaps++;
        for (size_t i = 0; i < c.n; i++) {
            if (atoi(strchr(c.jobs[i].id, '-') + 1) != r->next[g]) r->disorder++;
            r->next[g]++;
        }
        pthread_mutex_unlock(&r->lock);
        pthread_mutex_lock(&r->lock);
        r->held[g]--;
        r->done += (int)c.n;
        pthread_mutex_unlock(&r->lock);
        if (r->s->ops->queue_complete(r->s, &c, c.n, clock_now_ms()) != 0) {
            pthread_mutex_lock(&r->lock);
            r->overlaps += 1000;
            pthread_mutex_unlock(&r->lock);
        }
        store_claim_clear(&c);
    }
    return NULL;
}

static void test_two_threads_never_share_a_group(void)
{
    claim_race r;
    memset(&r, 0, sizeof r);
    r.s = open_fresh(NULL);
    pthread_mutex_init(&r.lock, NULL);
    es_job jobs[CC_GROUPS * CC_PER_GROUP];
    char ids[CC_GROUPS * CC_PER_GROUP][16], groups[CC_GROUPS][8];
    for (int g = 0; g < CC_GROUPS; g++) snprintf(groups[g], sizeof groups[g], "g%d", g);
    for (int i = 0; i < CC_PER_GROUP; i++)
        for (int g = 0; g < CC_GROUPS; g++) {
            int k = i * CC_GROUPS + g;
            snprintf(ids[k], sizeof ids[k], "%d-%d", g, i);
            jobs[k] = make_job(ids[k], g % 2 ? "t1" : "t2", groups[g], 0);
        }
    CHECK_INT(r.s->ops->queue_enqueue(r.s, jobs, CC_GROUPS * CC_PER_GROUP, clock_now_ms()), 0);
    pthread_t a, b;
    pthread_create(&a, NULL, claim_thread, &r);
    pthread_create(&b, NULL, claim_thread, &r);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    /* held[] is decremented before complete, so overlaps would only show a
     * claim handed out while another was still live */
    CHECK_INT(r.overlaps, 0);
    CHECK_INT(r.disorder, 0);
    CHECK_INT(r.done, CC_GROUPS * CC_PER_GROUP);
    es_claim c;
    CHECK_INT(r.s->ops->queue_claim(r.s, "w", 3, clock_now_ms(), 30000, 0, &c), 1);
    r.s->ops->close(r.s);
    pthread_mutex_destroy(&r.lock);
}

/* ---- concurrent enqueues (grouped) ---- */

#define GE_THREADS 6
#define GE_JOBS 200

typedef struct group_enqueue {
    es_store *s;
    int thread;
    int failures;
} group_enqueue;

/* Enqueues GE_JOBS jobs one call at a time into the thread's own group. */
static void *group_enqueue_thread(void *arg)
{
    group_enqueue *ge = arg;
    char group[16], id[32];
    snprintf(group, sizeof group, "ge%d", ge->thread);
    for (int i = 0; i < GE_JOBS; i++) {
        snprintf(id, sizeof id, "%d-%d", ge->thread, i);
        es_job j = make_job(id, "t1", group, 0);
        if (ge->s->ops->queue_enqueue(ge->s, &j, 1, clock_now_ms()) != 0) ge->failures++;
    }
    return NULL;
}

/* Concurrent enqueues share script calls: every job arrives once, each
 * group in its caller's order. */
static void test_concurrent_enqueues(void)
{
    es_store *s = open_fresh(NULL);
    pthread_t th[GE_THREADS];
    group_enqueue ge[GE_THREADS];
    for (int t = 0; t < GE_THREADS; t++) {
        ge[t] = (group_enqueue){s, t, 0};
        pthread_create(&th[t], NULL, group_enqueue_thread, &ge[t]);
    }
    for (int t = 0; t < GE_THREADS; t++) {
        pthread_join(th[t], NULL);
        CHECK_INT(ge[t].failures, 0);
    }
    int next[GE_THREADS] = {0}, disorder = 0, total = 0;
    es_claim c;
    while (s->ops->queue_claim(s, "w", 1000, clock_now_ms(), 30000, 0, &c) == 0) {
        int t = atoi(c.group_key + 2);
        for (size_t i = 0; i < c.n; i++, total++)
            if (atoi(strchr(c.jobs[i].id, '-') + 1) != next[t]++) disorder++;
        CHECK_INT(s->ops->queue_complete(s, &c, c.n, clock_now_ms()), 0);
        store_claim_clear(&c);
    }
    CHECK_INT(total, GE_THREADS * GE_JOBS);
    CHECK_INT(disorder, 0);
    s->ops->close(s);
}

typedef struct one_enqueue {
    es_store *s;
    const char *id;
    int rc;
} one_enqueue;

static void *one_enqueue_thread(void *arg)
{
    one_enqueue *o = arg;
    es_job j = make_job(o->id, "t1", "gF", 0);
    o->rc = o->s->ops->queue_enqueue(o->s, &j, 1, clock_now_ms());
    return NULL;
}

/* Two enqueues go on the wire at once: with the server stalled, a second
 * caller sends its own call beside the first one's, and a third waits to
 * be grouped with whoever comes next (three script calls: with one call
 * on the wire at a time, the second and third would have shared one). */
static void test_two_enqueues_in_flight(void)
{
    es_store *s = open_fresh(NULL);
    es_job warm = make_job("warm", "t1", "gW", 0); /* scripts loaded */
    CHECK_INT(s->ops->queue_enqueue(s, &warm, 1, clock_now_ms()), 0);
    long long calls = command_calls("evalsha");
    one_enqueue o[3] = {{s, "f1", -2}, {s, "f2", -2}, {s, "f3", -2}};
    pthread_t th[3];
    kill(server.pid, SIGSTOP);
    for (int i = 0; i < 3; i++) {
        pthread_create(&th[i], NULL, one_enqueue_thread, &o[i]);
        clock_sleep_ms(100);
    }
    kill(server.pid, SIGCONT);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(o[i].rc, 0);
    }
    CHECK_INT(command_calls("evalsha") - calls, 3);
    es_claim c;
    int queued = 0;
    while (s->ops->queue_claim(s, "w", 10, clock_now_ms(), 30000, 0, &c) == 0) {
        if (strcmp(c.group_key, "gF") == 0) queued += (int)c.n;
        store_claim_clear(&c);
    }
    CHECK_INT(queued, 3);
    s->ops->close(s);
}

/* ---- leases ---- */

static void test_stale_token_after_expiry(void)
{
    es_store *s = open_fresh(NULL);
    int64_t t = clock_now_ms();
    es_job j = make_job("j1", "t1", "gL", t);
    CHECK_INT(s->ops->queue_enqueue(s, &j, 1, t), 0);
    es_claim old, cur;
    CHECK_INT(s->ops->queue_claim(s, "w1", 1, t, 100, 0, &old), 0);
    CHECK_INT(s->ops->queue_claim(s, "w2", 1, t + 100, 100, 0, &cur), 1);
    CHECK_INT(s->ops->queue_claim(s, "w2", 1, t + 101, 100, 0, &cur), 0);
    CHECK(cur.token > old.token);
    diag_clear();
    CHECK_INT(s->ops->queue_complete(s, &old, 1, t + 102), -1);
    CHECK_INT(diag_code_get(), DIAG_CONFLICT);
    CHECK_INT(s->ops->queue_complete(s, &cur, 1, t + 103), 0);
    store_claim_clear(&old);
    store_claim_clear(&cur);
    s->ops->close(s);
}

/* ---- idle waiting ---- */

static void test_delayed_job_on_time(void)
{
    es_store *s = open_fresh(NULL);
    int64_t t = clock_now_ms();
    es_job j = make_job("later", "t1", "gD", t + 300);
    CHECK_INT(s->ops->queue_enqueue(s, &j, 1, t), 0);
    es_claim c;
    int64_t start = clock_monotonic_ms();
    CHECK_INT(s->ops->queue_claim(s, "w", 1, clock_now_ms(), 30000, 3000, &c), 0);
    int64_t got = clock_now_ms();
    fprintf(stderr, "delayed job claimed %lld ms after due\n", (long long)(got - (t + 300)));
    CHECK(got >= t + 300);
    /* on time: well before the 3 s wait ends; the margin absorbs a loaded
     * machine's scheduling (82 and 123 ms late seen at load 5 on 2 cores) */
    CHECK(got <= t + 300 + 400);
    CHECK(clock_monotonic_ms() - start < 1000);
    store_claim_clear(&c);
    s->ops->close(s);
}

typedef struct waiter {
    es_store *s;
    int rc;
    int64_t claimed_at;
} waiter;

static void *wait_thread(void *arg)
{
    waiter *w = arg;
    es_claim c;
    memset(&c, 0, sizeof c);
    w->rc = w->s->ops->queue_claim(w->s, "w", 1, clock_now_ms(), 30000, 5000, &c);
    w->claimed_at = clock_now_ms();
    store_claim_clear(&c);
    return NULL;
}

static void test_blocked_claim_wakes_on_enqueue(void)
{
    es_store *s = open_fresh(NULL);
    waiter w = {s, -2, 0};
    pthread_t th;
    pthread_create(&th, NULL, wait_thread, &w);
    /* whether the waiter is already blocked or not, it gets the job soon */
    int64_t t = clock_now_ms();
    es_job j = make_job("now", "t1", "gW", 0);
    CHECK_INT(s->ops->queue_enqueue(s, &j, 1, t), 0);
    pthread_join(th, NULL);
    CHECK_INT(w.rc, 0);
    CHECK(w.claimed_at - t < 1000);
    s->ops->close(s);
}

/* ---- fairness ---- */

static void test_tenant_fairness(void)
{
    es_store *s = open_fresh(NULL);
    static es_job jobs[1010];
    static char ids[1010][16];
    int64_t t = clock_now_ms();
    for (int i = 0; i < 1010; i++) {
        snprintf(ids[i], sizeof ids[i], "%c%d", i < 1000 ? 'a' : 'b', i);
        jobs[i] = make_job(ids[i], i < 1000 ? "A" : "B", ids[i], 0);
    }
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 1010, t), 0);
    int b_claimed = 0;
    for (int i = 0; i < 20; i++) {
        es_claim c;
        CHECK_INT(s->ops->queue_claim(s, "w", 10, t, 30000, 0, &c), 0);
        if (c.n && strcmp(c.jobs[0].tenant_id, "B") == 0) b_claimed++;
        store_claim_clear(&c);
    }
    CHECK_INT(b_claimed, 10);
    s->ops->close(s);
}

/* ---- limits ---- */

static void test_payload_limit(void)
{
    es_store *s = open_fresh(NULL);
    redis_store_set_max_payload(s, 16);
    es_job j = conformance_job("big", "gP", "this payload is too large", 0);
    diag_clear();
    CHECK_INT(s->ops->queue_enqueue(s, &j, 1, clock_now_ms()), -1);
    CHECK_INT(diag_code_get(), DIAG_INVALID);
    CHECK(strstr(diag_message(), "big") != NULL);
    CHECK(redis_store_open("http://x", "q") == NULL);
    CHECK_INT(diag_code_get(), DIAG_INVALID);
    s->ops->close(s);
}

/* A server that may evict keys without a TTL (maxmemory-policy allkeys-*)
 * is refused, naming the setting; once it is set back, the next
 * connection is served (no restart). */
static void test_evicting_server_refused(void)
{
    redis_integer("CONFIG SET maxmemory-policy allkeys-lru"); /* +OK: not an integer */
    es_store *s = open_fresh(NULL);
    redis_store_set_retry_ms(s, 50);
    es_job j = make_job("ev1", "t1", "gE", 0);
    diag_clear();
    CHECK_INT(s->ops->queue_enqueue(s, &j, 1, clock_now_ms()), -1);
    CHECK(strstr(diag_message(), "maxmemory-policy is allkeys-lru") != NULL);
    CHECK(strstr(diag_message(), "noeviction") != NULL);
    CHECK_INT(redis_store_healthy(s), 0);
    redis_integer("CONFIG SET maxmemory-policy volatile-lru");
    CHECK_INT(s->ops->queue_enqueue(s, &j, 1, clock_now_ms()), 0);
    redis_integer("CONFIG SET maxmemory-policy noeviction");
    s->ops->close(s);
}

/* ---- kill switch ---- */

/* A paused backlog larger than one claim script holds (64 groups) and than
 * one resume page (500) does not hide the unpaused group behind it; a
 * group released by a claim in flight is held by the next claim; a resume
 * leaves the groups another pause still covers held, and the last resume
 * puts every held group back. */
static void test_pause_backlog(void)
{
    enum { PAUSED = 1200 };
    es_store *s = open_fresh(NULL);
    static es_job jobs[PAUSED + 2];
    static char ids[PAUSED + 2][16], accounts[PAUSED][16];
    static char *keys[PAUSED + 2];
    for (int i = 0; i < PAUSED; i++) {
        snprintf(ids[i], sizeof ids[i], "p%d", i);
        snprintf(accounts[i], sizeof accounts[i], "a%d", i);
        jobs[i] = conformance_scoped_job(ids[i], "t1", "fold1", accounts[i], &keys[i]);
    }
    for (int i = PAUSED; i < PAUSED + 2; i++) {
        snprintf(ids[i], sizeof ids[i], "f%d", i);
        jobs[i] = conformance_scoped_job(ids[i], "t1", "fold2", "z", &keys[i]);
    }
    CHECK_INT(s->ops->pause_set(s, "t1", "pipe", "fold1", PAUSE_HOLD, CONF_T0), 0);
    CHECK_INT(s->ops->queue_enqueue(s, jobs, PAUSED + 2, CONF_T0), 0);

    es_claim c;
    CHECK_INT(conformance_claim(s, 1, CONF_T0 + 1, &c), 0);
    CHECK_STR(c.group_key ? c.group_key : "", keys[PAUSED]);
    /* paused while its claim runs: the rest of the group is held */
    CHECK_INT(s->ops->pause_set(s, NULL, "pipe", NULL, PAUSE_HOLD, CONF_T0 + 2), 0);
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, CONF_T0 + 2), 0);
    store_claim_clear(&c);
    char groups[8][64];
    CHECK_INT(conformance_drain(s, CONF_T0 + 3, groups), 0);

    /* the pipeline-wide pause still covers everything */
    CHECK_INT(s->ops->pause_set(s, "t1", "pipe", "fold1", PAUSE_NONE, CONF_T0 + 4), 0);
    CHECK_INT(conformance_drain(s, CONF_T0 + 5, groups), 0);
    CHECK_INT(s->ops->pause_set(s, NULL, "pipe", NULL, PAUSE_NONE, CONF_T0 + 6), 0);
    CHECK_INT(conformance_drain(s, CONF_T0 + 7, groups), PAUSED + 1);
    for (int i = 0; i < PAUSED + 2; i++) free(keys[i]);
    s->ops->close(s);
}

/* ---- origin bookkeeping ---- */

/* Fields of the queue's origin hash, or -1. */
static long long origin_fields(const char *queue)
{
    return redis_integer("HLEN {%s}:origin", queue);
}

/* Jobs without an origin (nobody waits on them) cost no origin counting,
 * beside jobs that have one, which are still counted exactly. */
static void test_origin_none(void)
{
    char queue[64];
    es_store *s = open_fresh_named(queue);
    es_job jobs[3] = {make_job("n1", "t1", "gN", 0), make_job("n2", "t1", "gN", 0),
                      make_job("w1", "t1", "gW", 0)};
    jobs[0].origin_id = jobs[1].origin_id = NULL;
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 3, 1000), 0);
    CHECK_INT(origin_fields(queue), 1);
    int64_t n = -1;
    CHECK_INT(s->ops->queue_origin_pending(s, "cmd-0", 1u << JOB_FOLD, &n), 0);
    CHECK_INT(n, 1);
    es_claim a;
    for (int i = 0; i < 2; i++) {
        CHECK_INT(s->ops->queue_claim(s, "w", 10, 1000, 10000, 0, &a), 0);
        CHECK_INT(a.jobs[0].origin_id == NULL, strcmp(a.group_key, "gN") == 0);
        CHECK_INT(s->ops->queue_complete(s, &a, a.n, 1000), 0);
        store_claim_clear(&a);
    }
    CHECK_INT(origin_fields(queue), 0);
    CHECK_INT(s->ops->queue_origin_pending(s, "cmd-0", 1u << JOB_FOLD, &n), 0);
    CHECK_INT(n, 0);
    s->ops->close(s);
}

/* Numbers sent to Redis (job lengths, run_at, seqs) in decimal (text_format.h). */
static void test_format_int(void)
{
    const int64_t values[] = {0, 7, -1, 1795826976868, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        char got[24], want[24];
        got[text_decimal(got, values[i])] = '\0';
        snprintf(want, sizeof want, "%lld", (long long)values[i]);
        CHECK_STR(got, want);
    }
    /* every width, at both ends: 10^k - 1, 10^k, 10^k + 1, and the top */
    for (uint64_t p = 1;; p *= 10) {
        const uint64_t around[] = {p - 1, p, p + 1};
        for (size_t i = 0; i < 3; i++) {
            char got[24], want[24];
            got[text_decimal_u(got, around[i])] = '\0';
            snprintf(want, sizeof want, "%llu", (unsigned long long)around[i]);
            CHECK_STR(got, want);
        }
        if (p > UINT64_MAX / 10) break;
    }
    char top[24];
    top[text_decimal_u(top, UINT64_MAX)] = '\0';
    CHECK_STR(top, "18446744073709551615");
}

int main(void)
{
    RUN_TEST(test_format_int);
    if (start_test_server() != 0) return 1;
    conformance_run(open_fresh, NULL);
    conformance_run_redis_inline(open_fresh, NULL);
    RUN_TEST(test_payload_limit);
    RUN_TEST(test_evicting_server_refused);
    RUN_TEST(test_stale_token_after_expiry);
    RUN_TEST(test_tenant_fairness);
    RUN_TEST(test_pause_backlog);
    RUN_TEST(test_two_threads_never_share_a_group);
    RUN_TEST(test_concurrent_enqueues);
    RUN_TEST(test_two_enqueues_in_flight);
    RUN_TEST(test_delayed_job_on_time);
    RUN_TEST(test_blocked_claim_wakes_on_enqueue);
    RUN_TEST(test_origin_none);
    RUN_TEST(test_restart_reconnects);
    redis_server_stop(&server);
    return TEST_EXIT();
}
