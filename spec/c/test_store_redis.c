/* test_store_redis.c: the Redis store against a private redis-server: the
 * shared store conformance suite, then what only a networked queue has:
 * reconnecting through a server restart, claims from concurrent threads,
 * fencing after lease expiry, timely delayed jobs, tenant fairness, job
 * records of before the string layout, job records inline in their
 * group's list (alone, mixed with keyed ones, after an upgrade), the queue
 * conformance checks again with jobs inline, and the event index kept for
 * ClickHouse (seqs, retries, duplicates, lost marker). */
#include "redis_server.h"
#include "store_conformance.h"
#include "store_conformance_redis_inline.h"
#include "testlib.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "clock.h"
#include "diag.h"
#include "redis_int.h"
#include "redis_store.h"

static redis_server server;
static int queue_counter;

/* A store on a queue name never used before in this run. */
static es_store *open_fresh(void *ud)
{
    (void)ud;
    char name[64];
    snprintf(name, sizeof name, "test-%d-%d", (int)getpid(), ++queue_counter);
    return redis_store_open(server.url, name);
}

static es_job make_job(const char *id, const char *tenant, const char *group, int64_t run_at)
{
    es_job j = conformance_job(id, group, "payload", run_at);
    j.tenant_id = (char *)tenant;
    return j;
}

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

/* ---- event index ---- */

/* ---- origin bookkeeping ---- */

/* The integer reply of one command to the test server, or -1 (an error
 * reply is printed). */
static long long redis_integer(const char *format, ...)
{
    redisContext *rc = redisConnect("127.0.0.1", server.port);
    va_list ap;
    va_start(ap, format);
    redisReply *r = rc ? redisvCommand(rc, format, ap) : NULL;
    va_end(ap);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r && r->type == REDIS_REPLY_ERROR) fprintf(stderr, "redis: %s\n", r->str);
    if (r) freeReplyObject(r);
    if (rc) redisFree(rc);
    return n;
}

/* Fields of the queue's origin hash, or -1. */
static long long origin_fields(const char *queue)
{
    return redis_integer("HLEN {%s}:origin", queue);
}

/* Jobs without an origin (nobody waits on them) cost no origin counting,
 * beside jobs that have one, which are still counted exactly. */
static void test_origin_none(void)
{
    es_store *s = open_fresh(NULL);
    char queue[64];
    snprintf(queue, sizeof queue, "test-%d-%d", (int)getpid(), queue_counter);
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

/* Rewrites every job record of `queue` as the hash of fields a queue held
 * before records were strings (stores/redis/queue_lib.lua: the same
 * one-letter fields; attempts 0 and items 1 were left out then). Returns
 * how many, or -1. */
static long long records_to_hashes(const char *queue)
{
    static const char *const script =
        "local n = 0\n"
        "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do\n"
        "  local s, t, at = redis.call('GET', k), {}, 2\n"
        "  for _, f in ipairs({'r', 'p', 'a', 'q', 'c'}) do\n"
        "    local e = s:find('\\31', at, true)\n"
        "    t[f], at = s:sub(at, e - 1), e + 1\n"
        "  end\n"
        "  for _, f in ipairs({'s', 'g', 'd', 'o', 'e', 'k'}) do\n"
        "    if s:byte(at) == 126 then at = at + 1 else\n"
        "      local c = s:find(':', at, true)\n"
        "      local len = tonumber(s:sub(at, c - 1))\n"
        "      t[f], at = s:sub(c + 1, c + len), c + len + 1\n"
        "    end\n"
        "  end\n"
        "  t.b = s:sub(at)\n"
        "  if t.a == '0' then t.a = nil end\n"
        "  if t.c == '1' then t.c = nil end\n"
        "  redis.call('DEL', k)\n"
        "  for f, v in pairs(t) do redis.call('HSET', k, f, v) end\n"
        "  n = n + 1\n"
        "end\n"
        "return n\n";
    return redis_integer("EVAL %s 0 {%s}:j:*", script, queue);
}

/* A queue written before job records were strings keeps working after an
 * upgrade: each record of before is converted when first read, and its
 * job runs in order, once, with its payload, attempts and origin. */
static void test_hash_records_of_before(void)
{
    es_store *s = open_fresh(NULL);
    char queue[64];
    snprintf(queue, sizeof queue, "test-%d-%d", (int)getpid(), queue_counter);
    es_job jobs[3] = {make_job("h1", "t1", "gH", 0), make_job("h2", "t1", "gH", 0),
                      make_job("h3", "t1", "gH", 0)};
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 3, 1000), 0);
    CHECK_INT(records_to_hashes(queue), 3);
    int64_t n = -1;
    CHECK_INT(s->ops->queue_origin_pending(s, "cmd-0", 1u << JOB_FOLD, &n), 0);
    CHECK_INT(n, 3);
    es_claim a;
    /* the head fails once (its record rewritten), then runs */
    CHECK_INT(s->ops->queue_claim(s, "w", 1, 1000, 10000, 0, &a), 0);
    CHECK_INT(a.n, 1);
    if (a.n) CHECK_STR(a.jobs[0].id, "h1");
    CHECK_INT(s->ops->queue_fail(s, &a, 0, "once", 1000, 10, 1000), 0);
    store_claim_clear(&a);
    CHECK_INT(s->ops->queue_claim(s, "w", 10, 1001, 10000, 0, &a), 0);
    CHECK_INT(a.n, 3);
    if (a.n == 3) {
        CHECK_STR(a.jobs[0].id, "h1");
        CHECK_INT(a.jobs[0].attempts, 1);
        CHECK_STR(a.jobs[1].id, "h2");
        CHECK_STR(a.jobs[2].id, "h3");
        CHECK_INT(a.jobs[2].attempts, 0);
        CHECK_STR(a.jobs[2].payload, "payload");
        CHECK_STR(a.jobs[2].origin_id, "cmd-0");
        CHECK(a.jobs[0].position < a.jobs[1].position && a.jobs[1].position < a.jobs[2].position);
    }
    CHECK_INT(s->ops->queue_complete(s, &a, a.n, 1002), 0);
    store_claim_clear(&a);
    CHECK_INT(s->ops->queue_origin_pending(s, "cmd-0", 1u << JOB_FOLD, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(s->ops->queue_claim(s, "w", 10, 1003, 10000, 0, &a), 1);
    s->ops->close(s);
}

/* ---- inline job records ---- */

/* A job the queue keeps inline: a fresh id, no origin, no dedup key. */
static es_job inline_job(const char *id, const char *group)
{
    es_job j = make_job(id, "t1", group, 0);
    j.origin_id = NULL;
    j.fresh_id = 1;
    return j;
}

/* Keys of `queue` holding one job's record, or -1. */
static long long job_keys(const char *queue)
{
    return redis_integer("EVAL %s 0 {%s}:j:*", "return #redis.call('KEYS', ARGV[1])", queue);
}

/* Keys of `queue` for group g: its list and its state hash. */
static long long group_keys(const char *queue, const char *g)
{
    return redis_integer("EXISTS {%s}:g:%s {%s}:m:%s", queue, g, queue, g);
}

/* The claim of the group due at `now` (max_jobs 10); its rc. */
static int claim_at(es_store *s, int64_t now, es_claim *c)
{
    memset(c, 0, sizeof *c);
    return s->ops->queue_claim(s, "w", 10, now, 10000, 0, c);
}

/* Jobs ready now, summed over the stats rows. */
static int sum_pending(void *ud, const es_queue_stats *row)
{
    ((int64_t *)ud)[0] += row->pending;
    ((int64_t *)ud)[1] += row->parked;
    return 0;
}

/* Fresh jobs without dedup key nor origin keep their records in their list
 * elements (no key per job); a fresh job with an origin, and a job whose
 * id is not fresh, keep a key. One list holds both, claimed in order;
 * once completed, nothing of the group is left. */
static void test_inline_layout(void)
{
    es_store *s = open_fresh(NULL);
    char queue[64];
    snprintf(queue, sizeof queue, "test-%d-%d", (int)getpid(), queue_counter);
    es_job jobs[4] = {inline_job("i1", "gI"), make_job("o1", "t1", "gI", 0),
                      inline_job("i2", "gI"), make_job("k1", "t1", "gI", 0)};
    jobs[1].fresh_id = 1; /* fresh, with an origin */
    jobs[3].origin_id = NULL; /* no origin, not fresh */
    jobs[2].payload = (char *)"second \x1e\x1f~1:";
    jobs[2].payload_len = strlen(jobs[2].payload);
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 4, 1000), 0);
    CHECK_INT(job_keys(queue), 2);
    CHECK_INT(redis_integer("EXISTS {%s}:j:o1 {%s}:j:k1", queue, queue), 2);
    CHECK_INT(redis_integer("LLEN {%s}:g:gI", queue), 4);
    es_claim c;
    CHECK_INT(claim_at(s, 1000, &c), 0);
    CHECK_INT(c.n, 4);
    if (c.n == 4) {
        const char *ids[4] = {"i1", "o1", "i2", "k1"};
        for (int i = 0; i < 4; i++) {
            CHECK_STR(c.jobs[i].id, ids[i]);
            CHECK_INT(c.jobs[i].attempts, 0);
            CHECK_INT(c.jobs[i].kind, JOB_FOLD);
            CHECK_STR(c.jobs[i].tenant_id, "t1");
            if (i) CHECK(c.jobs[i - 1].position < c.jobs[i].position);
        }
        CHECK_STR(c.jobs[0].payload, "payload");
        CHECK_INT(c.jobs[0].origin_id == NULL, 1);
        CHECK_STR(c.jobs[1].origin_id, "cmd-0");
        CHECK_STR(c.jobs[2].payload, "second \x1e\x1f~1:");
        CHECK_INT(c.jobs[2].payload_len, strlen("second \x1e\x1f~1:"));
        CHECK_INT(c.jobs[2].last_error == NULL, 1);
    }
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, 1001), 0);
    store_claim_clear(&c);
    CHECK_INT(job_keys(queue), 0);
    CHECK_INT(group_keys(queue, "gI"), 0);
    CHECK_INT(claim_at(s, 1002, &c), 1);
    s->ops->close(s);
}

/* An inline job's attempts, run_at and error are rewritten in its element
 * through a failure, a retry, parking, a parked retry and skips (of the
 * whole job, and of one item of a job of two), and none gets a key. */
static void test_inline_fail_park_skip(void)
{
    es_store *s = open_fresh(NULL);
    char queue[64];
    snprintf(queue, sizeof queue, "test-%d-%d", (int)getpid(), queue_counter);
    es_job jobs[3] = {inline_job("f1", "gF"), inline_job("f2", "gF"), inline_job("f3", "gF")};
    jobs[2].items = 2;
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 3, 1000), 0);
    es_claim c;
    CHECK_INT(claim_at(s, 1000, &c), 0);
    CHECK_INT(c.n, 3);
    /* f1 done, f2 fails: retried at 1100 */
    CHECK_INT(s->ops->queue_fail(s, &c, 1, "boom", 1100, 3, 1000), 0);
    store_claim_clear(&c);
    CHECK_INT(claim_at(s, 1050, &c), 1);
    CHECK_INT(claim_at(s, 1100, &c), 0);
    CHECK_INT(c.n, 2);
    if (c.n == 2) {
        CHECK_STR(c.jobs[0].id, "f2");
        CHECK_INT(c.jobs[0].attempts, 1);
        CHECK_STR(c.jobs[0].last_error, "boom");
        CHECK_INT(c.jobs[0].run_at, 1100);
        CHECK_STR(c.jobs[1].id, "f3");
        CHECK_INT(c.jobs[1].attempts, 0);
    }
    /* f2 fails for good: parked with its last error */
    CHECK_INT(s->ops->queue_fail(s, &c, 0, "boom again", 1200, 2, 1100), 0);
    store_claim_clear(&c);
    conformance_parked p;
    memset(&p, 0, sizeof p);
    CHECK_INT(s->ops->queue_parked_list(s, NULL, conformance_collect_parked, &p), 0);
    CHECK_INT(p.n, 1);
    CHECK_STR(p.head_id, "f2");
    CHECK_INT(p.attempts, 2);
    CHECK_STR(p.error, "boom again");
    CHECK_INT(p.waiting, 2);
    int64_t counts[2] = {0, 0};
    CHECK_INT(s->ops->queue_stats(s, 1100, sum_pending, counts), 0);
    CHECK_INT(counts[1], 3); /* f2, and f3's two items */
    /* a parked retry runs f2 again, attempts reset */
    CHECK_INT(s->ops->queue_parked_retry(s, "gF", 1300), 0);
    CHECK_INT(claim_at(s, 1300, &c), 0);
    CHECK_INT(c.n, 2);
    if (c.n == 2) {
        CHECK_STR(c.jobs[0].id, "f2");
        CHECK_INT(c.jobs[0].attempts, 0);
    }
    CHECK_INT(s->ops->queue_fail(s, &c, 0, "third", 1400, 1, 1300), 0);
    store_claim_clear(&c);
    /* skip drops f2; f3 fails on one of its two items, parks, and a skip
     * keeps the other */
    CHECK_INT(s->ops->queue_parked_skip(s, "gF", 1400), 0);
    CHECK_INT(claim_at(s, 1400, &c), 0);
    CHECK_INT(c.n, 1);
    if (c.n == 1) {
        CHECK_STR(c.jobs[0].id, "f3");
        c.jobs[0].skip_payload = strdup("rest");
        c.jobs[0].skip_payload_len = 4;
    }
    CHECK_INT(s->ops->queue_fail(s, &c, 0, "item", 1500, 1, 1400), 0);
    store_claim_clear(&c);
    CHECK_INT(s->ops->queue_parked_skip(s, "gF", 1500), 0);
    CHECK_INT(claim_at(s, 1500, &c), 0);
    CHECK_INT(c.n, 1);
    if (c.n == 1) {
        CHECK_STR(c.jobs[0].id, "f3");
        CHECK_STR(c.jobs[0].payload, "rest");
        CHECK_INT(c.jobs[0].attempts, 0);
        CHECK_INT(job_items(&c.jobs[0]), 1);
    }
    CHECK_INT(job_keys(queue), 0);
    CHECK_INT(redis_integer("LLEN {%s}:dead", queue), 2);
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, 1500), 0);
    store_claim_clear(&c);
    CHECK_INT(group_keys(queue, "gF"), 0);
    s->ops->close(s);
}

/* A queue written before inline records (elements that are bare ids,
 * records as strings and as hashes of older still) keeps working once new
 * jobs join the same list inline: all run in order, once, and a keyed
 * job's failure is recorded at its key between inline ones. */
static void test_inline_after_upgrade(void)
{
    es_store *s = open_fresh(NULL);
    char queue[64];
    snprintf(queue, sizeof queue, "test-%d-%d", (int)getpid(), queue_counter);
    /* the layout of before: not fresh, so keyed; u1 counts for its origin */
    es_job old[3] = {make_job("u1", "t1", "gU", 0), make_job("u2", "t1", "gU", 0),
                     make_job("u3", "t1", "gU", 0)};
    old[1].origin_id = old[2].origin_id = NULL;
    CHECK_INT(s->ops->queue_enqueue(s, old, 3, 1000), 0);
    CHECK_INT(s->ops->queue_enqueue(s, old, 1, 1000), 0); /* still its id: a no-op */
    CHECK_INT(records_to_hashes(queue), 3);
    /* upgraded: new jobs inline behind them */
    es_job fresh[2] = {inline_job("n1", "gU"), inline_job("n2", "gU")};
    CHECK_INT(s->ops->queue_enqueue(s, fresh, 2, 1000), 0);
    CHECK_INT(job_keys(queue), 3);
    int64_t counts[2] = {0, 0};
    CHECK_INT(s->ops->queue_stats(s, 1000, sum_pending, counts), 0);
    CHECK_INT(counts[0], 5);
    es_claim c;
    memset(&c, 0, sizeof c);
    CHECK_INT(s->ops->queue_claim(s, "w", 2, 1000, 10000, 0, &c), 0);
    CHECK_INT(c.n, 2);
    if (c.n == 2) CHECK_STR(c.jobs[0].id, "u1");
    CHECK_INT(s->ops->queue_fail(s, &c, 1, "later", 1000, 5, 1000), 0); /* u1 done, u2 failed */
    store_claim_clear(&c);
    CHECK_INT(claim_at(s, 1001, &c), 0);
    CHECK_INT(c.n, 4);
    if (c.n == 4) {
        const char *ids[4] = {"u2", "u3", "n1", "n2"};
        for (int i = 0; i < 4; i++) {
            CHECK_STR(c.jobs[i].id, ids[i]);
            CHECK_STR(c.jobs[i].payload, "payload");
            if (i) CHECK(c.jobs[i - 1].position < c.jobs[i].position);
        }
        CHECK_INT(c.jobs[0].attempts, 1);
        CHECK_STR(c.jobs[0].last_error, "later");
        CHECK_INT(c.jobs[2].attempts, 0);
    }
    int64_t n = -1;
    CHECK_INT(s->ops->queue_origin_pending(s, "cmd-0", 1u << JOB_FOLD, &n), 0);
    CHECK_INT(n, 0);
    /* part of the claim done: the keyed ones and n1 */
    CHECK_INT(s->ops->queue_complete(s, &c, 3, 1002), 0);
    store_claim_clear(&c);
    CHECK_INT(job_keys(queue), 0);
    CHECK_INT(claim_at(s, 1003, &c), 0);
    CHECK_INT(c.n, 1);
    if (c.n == 1) CHECK_STR(c.jobs[0].id, "n2");
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, 1003), 0);
    store_claim_clear(&c);
    CHECK_INT(group_keys(queue, "gU"), 0);
    s->ops->close(s);
}

static es_event index_event(const char *id, const char *key)
{
    return (es_event){.id = (char *)id, .tenant_id = (char *)"t1",
                      .aggregate_type = (char *)"acct", .aggregate_id = (char *)"a1",
                      .idempotency_key = (char *)key};
}

static void test_event_index(void)
{
    es_store *s = open_fresh(NULL);
    char *epoch = NULL;
    int64_t last = 0;
    /* no index over a non-empty log; created over an empty one, then kept */
    CHECK_INT(s->ops->event_index_init(s, "db1", 0, &epoch), 1);
    CHECK_INT(s->ops->event_index_init(s, "db1", 1, &epoch), 0);
    char *again = NULL;
    CHECK_INT(s->ops->event_index_init(s, "db1", 1, &again), 0);
    CHECK_STR(again ? again : "", epoch ? epoch : "-");
    free(again);

    es_event evs[3] = {index_event("e1", "e1"), index_event("e2", "k2"),
                       index_event("e1", "e1")};
    append_outcome out[3];
    CHECK_INT(s->ops->event_index_assign(s, "db1", epoch, evs, 3, 1000, out, &last), 0);
    CHECK_INT(out[0], APPEND_NEW);
    CHECK_INT(evs[0].seq, 1);
    CHECK_INT(out[1], APPEND_NEW);
    CHECK_INT(evs[1].seq, 2);
    CHECK_INT(out[2], APPEND_RETRY); /* the same id later in the same call */
    CHECK_INT(evs[2].seq, 1);

    /* a retry keeps its seq and created_at; a reused key is a duplicate,
     * of an explicit key or of a default one (the id); new ones go on */
    es_event more[4] = {index_event("e2", "k2"), index_event("e9", "k2"),
                        index_event("e8", "e1"), index_event("e3", "e3")};
    append_outcome out2[4];
    CHECK_INT(s->ops->event_index_assign(s, "db1", epoch, more, 4, 2000, out2, &last), 0);
    CHECK_INT(out2[0], APPEND_RETRY);
    CHECK_INT(more[0].seq, 2);
    CHECK_INT(more[0].created_at, 1000);
    CHECK_INT(out2[1], APPEND_DUPLICATE);
    CHECK_INT(out2[2], APPEND_DUPLICATE);
    CHECK_INT(out2[3], APPEND_NEW);
    CHECK_INT(more[3].seq, 3);
    CHECK_INT(more[3].created_at, 2000);

    /* another scope is another log; a wrong epoch is not trusted */
    char *other = NULL;
    CHECK_INT(s->ops->event_index_init(s, "db2", 1, &other), 0);
    es_event first = index_event("e1", "e1");
    CHECK_INT(s->ops->event_index_assign(s, "db2", other, &first, 1, 3000, out, &last), 0);
    CHECK_INT(first.seq, 1);
    CHECK_INT(s->ops->event_index_assign(s, "db1", other, &first, 1, 3000, out, &last), 1);
    free(other);

    /* a flushed Redis: not trusted, and not recreated over a non-empty log */
    redisContext *rc = redisConnect("127.0.0.1", server.port);
    redisReply *r = rc ? redisCommand(rc, "FLUSHALL") : NULL;
    if (r) freeReplyObject(r);
    if (rc) redisFree(rc);
    CHECK_INT(s->ops->event_index_assign(s, "db1", epoch, evs, 1, 4000, out, &last), 1);
    char *none = NULL;
    CHECK_INT(s->ops->event_index_init(s, "db1", 0, &none), 1);
    free(epoch);
    s->ops->close(s);
}

/* Fields of an aggregate's hash in the event index, or -1. */
static long long index_fields(const char *queue, const char *scope, const char *epoch)
{
    return redis_integer("HLEN {%s}:ev:%s:%s:t1\x1f" "acct\x1f" "a1", queue, scope, epoch);
}

/* The index keeps a bounded window per aggregate: an id or key it may have
 * forgotten is left to the caller (2), who records what the log says;
 * seqs above the log's last one are given out again. */
static void test_event_index_window(void)
{
    es_store *s = open_fresh(NULL);
    char queue[64];
    snprintf(queue, sizeof queue, "test-%d-%d", (int)getpid(), queue_counter);
    char *epoch = NULL;
    CHECK_INT(s->ops->event_index_init(s, "dbw", 1, &epoch), 0);
    append_outcome out[2];
    int64_t last = -1;
    char ids[200][16];
    for (int i = 0; i < 200; i++) {
        snprintf(ids[i], sizeof ids[i], "e%d", i + 1);
        es_event ev = index_event(ids[i], i == 4 ? "k5" : ids[i]);
        CHECK_INT(s->ops->event_index_assign(s, "dbw", epoch, &ev, 1, 1000 + i, out, &last), 0);
        CHECK_INT(ev.seq, i + 1);
    }
    long long fields = index_fields(queue, "dbw", epoch);
    CHECK(fields > 0 && fields < 60); /* not ~200 events' worth */

    /* recent: answered by the window */
    es_event recent = index_event("e200", "e200");
    CHECK_INT(s->ops->event_index_assign(s, "dbw", epoch, &recent, 1, 5000, out, &last), 0);
    CHECK_INT(out[0], APPEND_RETRY);
    CHECK_INT(recent.seq, 200);
    /* forgotten id or key: undecided, nothing changed */
    es_event old_id = index_event("e1", "e1"), old_key = index_event("x1", "k5");
    CHECK_INT(s->ops->event_index_assign(s, "dbw", epoch, &old_id, 1, 5000, out, &last), 2);
    CHECK_INT(last, 200);
    CHECK_INT(s->ops->event_index_assign(s, "dbw", epoch, &old_key, 1, 5000, out, &last), 2);
    CHECK_INT(last, 200);

    /* the caller records what the log says: a duplicate, and a new event */
    es_event decided[2] = {index_event("x1", "k5"), index_event("x2", "x2")};
    append_outcome outs[2] = {APPEND_DUPLICATE, APPEND_NEW};
    decided[1].seq = 201;
    decided[1].created_at = 6000;
    CHECK_INT(s->ops->event_index_record(s, "dbw", epoch, decided, 2, outs, 199, 200), 2);
    CHECK_INT(s->ops->event_index_record(s, "dbw", epoch, decided, 2, outs, 200, 200), 0);
    es_event again = index_event("x2", "x2");
    CHECK_INT(s->ops->event_index_assign(s, "dbw", epoch, &again, 1, 7000, out, &last), 0);
    CHECK_INT(out[0], APPEND_RETRY);
    CHECK_INT(again.seq, 201);
    CHECK_INT(again.created_at, 6000);

    /* seqs the log never got (a dead appender's) are given out again */
    es_event lost = index_event("y1", "y1");
    CHECK_INT(s->ops->event_index_assign(s, "dbw", epoch, &lost, 1, 8000, out, &last), 0);
    CHECK_INT(lost.seq, 202);
    es_event redo = index_event("y2", "y2");
    redo.seq = 202;
    redo.created_at = 9000;
    append_outcome fresh = APPEND_NEW;
    CHECK_INT(s->ops->event_index_record(s, "dbw", epoch, &redo, 1, &fresh, 202, 201), 0);
    es_event after = index_event("y3", "y3");
    CHECK_INT(s->ops->event_index_assign(s, "dbw", epoch, &after, 1, 9500, out, &last), 0);
    CHECK_INT(after.seq, 203);
    free(epoch);
    s->ops->close(s);
}

/* A call of many events: duplicates and retries within it are found
 * although the window moves during the call, and the aggregate's hash
 * stays small (Redis's compact encoding). */
static void test_event_index_big_call(void)
{
    es_store *s = open_fresh(NULL);
    char queue[64];
    snprintf(queue, sizeof queue, "test-%d-%d", (int)getpid(), queue_counter);
    char *epoch = NULL;
    CHECK_INT(s->ops->event_index_init(s, "dbb", 1, &epoch), 0);
    enum { N = 300 };
    es_event evs[N];
    append_outcome out[N];
    char ids[N][16], keys[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "b%d", i);
        snprintf(keys[i], sizeof keys[i], i % 2 ? "b%d" : "key%d", i);
        evs[i] = index_event(ids[i], keys[i]);
    }
    evs[250] = index_event("other", "key2");  /* explicit key of event 2 */
    evs[260] = index_event("b1", "b1");       /* the id of event 1 again */
    evs[270] = index_event("new270", "b3");   /* the default key of event 3 */
    int64_t last = 0;
    CHECK_INT(s->ops->event_index_assign(s, "dbb", epoch, evs, N, 1000, out, &last), 0);
    CHECK_INT(out[250], APPEND_DUPLICATE);
    CHECK_INT(out[260], APPEND_RETRY);
    CHECK_INT(evs[260].seq, 2);
    CHECK_INT(out[270], APPEND_DUPLICATE);
    CHECK_INT(out[299], APPEND_NEW);
    CHECK_INT(evs[299].seq, N - 3);
    CHECK(index_fields(queue, "dbb", epoch) < 60);
    redisContext *rc = redisConnect("127.0.0.1", server.port);
    redisReply *r = rc ? redisCommand(rc, "OBJECT ENCODING {%s}:ev:dbb:%s:t1\x1f" "acct\x1f" "a1",
                                      queue, epoch)
                       : NULL;
    CHECK_STR(r && r->type == REDIS_REPLY_STRING ? r->str : "", "listpack");
    if (r) freeReplyObject(r);
    if (rc) redisFree(rc);
    free(epoch);
    s->ops->close(s);
}

/* Numbers sent to Redis (job lengths, run_at, seqs) in decimal. */
static void test_format_int(void)
{
    const int64_t values[] = {0, 7, -1, 1795826976868, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        char got[24], want[24];
        got[redis_format_int(got, values[i])] = '\0';
        snprintf(want, sizeof want, "%lld", (long long)values[i]);
        CHECK_STR(got, want);
    }
}

int main(void)
{
    RUN_TEST(test_format_int);
    if (redis_server_start(&server) != 0) {
        fprintf(stderr, "FAIL: cannot start redis-server: %s\n"
                        "install it (apt-get install redis-server) or set ESENGINE_REDIS_SERVER\n",
                server.why);
        return 1;
    }
    conformance_run(open_fresh, NULL);
    conformance_run_redis_inline(open_fresh, NULL);
    RUN_TEST(test_payload_limit);
    RUN_TEST(test_stale_token_after_expiry);
    RUN_TEST(test_tenant_fairness);
    RUN_TEST(test_pause_backlog);
    RUN_TEST(test_two_threads_never_share_a_group);
    RUN_TEST(test_concurrent_enqueues);
    RUN_TEST(test_delayed_job_on_time);
    RUN_TEST(test_blocked_claim_wakes_on_enqueue);
    RUN_TEST(test_origin_none);
    RUN_TEST(test_hash_records_of_before);
    RUN_TEST(test_inline_layout);
    RUN_TEST(test_inline_fail_park_skip);
    RUN_TEST(test_inline_after_upgrade);
    RUN_TEST(test_event_index);
    RUN_TEST(test_event_index_window);
    RUN_TEST(test_event_index_big_call);
    RUN_TEST(test_restart_reconnects);
    redis_server_stop(&server);
    return TEST_EXIT();
}
