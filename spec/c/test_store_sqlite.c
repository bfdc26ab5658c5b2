/* test_store_sqlite.c: the store conformance suite against the embedded
 * SQLite backend, plus its own guarantees: atomic units of work, exclusive
 * concurrent claims, concurrent enqueues (group commit), durability across
 * reopen. Older schemas and index layout: test_store_sqlite_layout.c. */
#include "store_conformance.h"

#include "clock.h"
#include "sqlite_internal.h"
#include "sqlite_store.h"
#include "sqlite_test_dirs.h"
#include "sqlite_walbuf.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static es_store *test_open_fresh(void *ud)
{
    (void)ud;
    char *dir = test_make_dir();
    es_store *s = dir ? sqlite_store_open(dir) : NULL;
    if (!s) fprintf(stderr, "open failed: %s\n", diag_message());
    return s;
}

/* ---- atomicity */

static int test_count_events(void *ud, const es_event *ev)
{
    (void)ev;
    (*(int *)ud)++;
    return 0;
}

/* The result of a one-row PRAGMA on the store's shared connection. */
static long long shared_pragma(es_store *base, const char *pragma)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c = sqlite_shared_lock(s);
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(c->db, pragma, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite_shared_unlock(s);
    return v;
}

/* Deletes do not write the pages they free (secure_delete FAST, not
 * Debian's ON); commits go through the buffered-WAL VFS. */
static void test_connection_settings(void)
{
    es_store *s = test_open_fresh(NULL);
    CHECK(s != NULL);
    if (!s) return;
    CHECK_INT(shared_pragma(s, "PRAGMA secure_delete"), 2);
    sqlite_store *ss = (sqlite_store *)s;
    sqlite_conn *c = sqlite_shared_lock(ss);
    char *vfs = NULL;
    CHECK_INT(sqlite3_file_control(c->db, "main", SQLITE_FCNTL_VFSNAME, &vfs), SQLITE_OK);
    sqlite_shared_unlock(ss);
    CHECK(vfs && strstr(vfs, sqlite_walbuf_vfs()) != NULL);
    sqlite3_free(vfs);
    s->ops->close(s);
}

static void test_rollback_leaves_nothing(void)
{
    es_store *s = test_open_fresh(NULL);
    CHECK(s != NULL);
    if (!s) return;
    CHECK_INT(s->ops->tx_begin(s), 0);
    es_event ev = conformance_event("t1", "a1", "e1", NULL);
    append_outcome o;
    CHECK_INT(s->ops->event_append(s, &ev, 1, CONF_T0, &o), 0);
    CHECK_INT(conformance_enqueue1(s, conformance_job("j1", "gA", "p", CONF_T0), CONF_T0), 0);
    CHECK_INT(s->ops->fold_put(s, "t1", "f", "a1", "{}", 1, CONF_T0), 0);
    s->ops->tx_rollback(s);

    int n = 0;
    CHECK_INT(s->ops->event_read(s, "t1", "trace", "a1", 0, 0, test_count_events, &n), 0);
    CHECK_INT(n, 0);
    es_claim c;
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &c), 1);
    char *state = NULL;
    int64_t last;
    CHECK_INT(s->ops->fold_get(s, "t1", "f", "a1", &state, &last), 1);

    /* the same unit committed: everything is there, the seq restarts at 1 */
    CHECK_INT(s->ops->tx_begin(s), 0);
    CHECK_INT(s->ops->event_append(s, &ev, 1, CONF_T0, &o), 0);
    CHECK_INT(o, APPEND_NEW);
    CHECK_INT(ev.seq, 1);
    CHECK_INT(conformance_enqueue1(s, conformance_job("j1", "gA", "p", CONF_T0), CONF_T0), 0);
    CHECK_INT(s->ops->tx_commit(s), 0);
    n = 0;
    CHECK_INT(s->ops->event_read(s, "t1", "trace", "a1", 0, 0, test_count_events, &n), 0);
    CHECK_INT(n, 1);
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &c), 0);

    /* completing a claim inside a rolled-back unit keeps the job queued */
    CHECK_INT(s->ops->tx_begin(s), 0);
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, CONF_T0), 0);
    s->ops->tx_rollback(s);
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, CONF_T0), 0);
    store_claim_clear(&c);
    s->ops->close(s);
}

/* Opens two stores on one fresh data directory, as two processes would
 * have it. 0, or -1 (checked) when either failed (both are then closed). */
static int test_open_pair(es_store **a, es_store **b)
{
    char *dir = test_make_dir();
    *a = dir ? sqlite_store_open(dir) : NULL;
    *b = dir ? sqlite_store_open(dir) : NULL;
    CHECK(*a != NULL && *b != NULL);
    if (*a && *b) return 0;
    if (*a) (*a)->ops->close(*a);
    if (*b) (*b)->ops->close(*b);
    return -1;
}

/* The queue counters a transaction uses (positions, claim tokens, queued
 * counts) are written at its commit: a rolled-back enqueue leaves no
 * trace, and two stores on one database (two processes) never hand out
 * the same position or token, so one group's jobs keep their enqueue
 * order whichever store queued them. */
static void test_counters_written_at_commit(void)
{
    es_store *a, *b;
    if (test_open_pair(&a, &b) != 0) return;
    int64_t t = CONF_T0;
    CHECK_INT(a->ops->tx_begin(a), 0);
    CHECK_INT(conformance_enqueue1(a, conformance_job("j0", "gC", "p", t), t), 0);
    a->ops->tx_rollback(a);
    CHECK_INT(conformance_enqueue1(a, conformance_job("j1", "gC", "p", t), t), 0);
    CHECK_INT(conformance_enqueue1(b, conformance_job("j2", "gC", "p", t), t), 0);
    CHECK_INT(conformance_enqueue1(a, conformance_job("j3", "gC", "p", t), t), 0);
    conformance_stats st = {0};
    CHECK_INT(b->ops->queue_stats(b, t, conformance_collect_stats, &st), 0);
    CHECK_INT(st.fold.pending, 3);

    es_claim c1, c2;
    CHECK_INT(conformance_claim(a, 1, t, &c1), 0);
    CHECK_INT(c1.n, 1);
    if (c1.n) CHECK_STR(c1.jobs[0].id, "j1");
    CHECK_INT(a->ops->queue_complete(a, &c1, c1.n, t), 0);
    CHECK_INT(conformance_claim(b, 10, t, &c2), 0);
    CHECK_INT(c2.n, 2);
    if (c2.n == 2) {
        CHECK_STR(c2.jobs[0].id, "j2");
        CHECK_STR(c2.jobs[1].id, "j3");
        CHECK(c1.n && c2.jobs[0].position > c1.jobs[0].position);
        CHECK(c2.jobs[1].position > c2.jobs[0].position);
    }
    CHECK(c2.token > c1.token);
    CHECK_INT(b->ops->queue_complete(b, &c2, c2.n, t), 0);
    st = (conformance_stats){0};
    CHECK_INT(a->ops->queue_stats(a, t, conformance_collect_stats, &st), 0);
    CHECK_INT(st.fold.pending + st.fold.in_flight, 0);
    store_claim_clear(&c1);
    store_claim_clear(&c2);
    a->ops->close(a);
    b->ops->close(b);
}

/* Reads the fold state of key `key` (table f, tenant t1) into buf; "" when
 * there is none. */
static void test_fold_read(es_store *s, const char *key, char *buf, size_t size)
{
    char *state = NULL;
    int64_t last = 0;
    buf[0] = '\0';
    if (s->ops->fold_get(s, "t1", "f", key, &state, &last) == 0) snprintf(buf, size, "%s", state);
    free(state);
}

/* A batched unit is seen at once by its own process (fold reads go
 * through the shared connection) and by another one (a second store on
 * the database) once the batch commits: before any other write of the
 * process, when a claim finds nothing to do, and at close. A unit rolled
 * back inside a batch takes only its own writes with it. */
static void test_batched_units(void)
{
    es_store *a, *b;
    if (test_open_pair(&a, &b) != 0) return;
    int64_t t = CONF_T0;
    char buf[64];
    CHECK_INT(a->ops->tx_begin(a), 0);
    CHECK_INT(a->ops->fold_put(a, "t1", "f", "k", "{\"v\":1}", 1, t), 0);
    CHECK_INT(a->ops->tx_commit_batched(a), 0);
    /* a unit undone without having changed anything leaves the batch */
    CHECK_INT(a->ops->tx_begin(a), 0);
    a->ops->tx_rollback(a);
    test_fold_read(a, "k", buf, sizeof buf);
    CHECK_STR(buf, "{\"v\":1}");
    test_fold_read(b, "k", buf, sizeof buf);
    CHECK_STR(buf, "");
    /* a unit undone after a change undoes the units batched before it
     * (redone from the queue: sqlite_units.c) */
    CHECK_INT(a->ops->tx_begin(a), 0);
    CHECK_INT(a->ops->fold_put(a, "t1", "f", "k", "{\"v\":2}", 2, t), 0);
    a->ops->tx_rollback(a);
    test_fold_read(a, "k", buf, sizeof buf);
    CHECK_STR(buf, "");
    CHECK_INT(a->ops->tx_begin(a), 0);
    CHECK_INT(a->ops->fold_put(a, "t1", "f", "k", "{\"v\":1}", 1, t), 0);
    CHECK_INT(a->ops->tx_commit_batched(a), 0);

    /* a write of its own (an enqueue) commits the batch before it */
    CHECK_INT(conformance_enqueue1(a, conformance_job("j1", "gB", "p", t), t), 0);
    test_fold_read(b, "k", buf, sizeof buf);
    CHECK_STR(buf, "{\"v\":1}");

    /* a claim that finds nothing commits the batch */
    es_claim c;
    CHECK_INT(conformance_claim(a, 10, t, &c), 0);
    CHECK_INT(a->ops->tx_begin(a), 0);
    CHECK_INT(a->ops->queue_complete(a, &c, c.n, t), 0);
    CHECK_INT(a->ops->fold_put(a, "t1", "f", "k", "{\"v\":3}", 3, t), 0);
    CHECK_INT(a->ops->tx_commit_batched(a), 0);
    store_claim_clear(&c);
    test_fold_read(b, "k", buf, sizeof buf);
    CHECK_STR(buf, "{\"v\":1}");
    CHECK_INT(a->ops->queue_claim(a, "w1", 10, t, CONF_LEASE, 20, &c), 1);
    test_fold_read(b, "k", buf, sizeof buf);
    CHECK_STR(buf, "{\"v\":3}");
    conformance_stats st = {0};
    CHECK_INT(b->ops->queue_stats(b, t, conformance_collect_stats, &st), 0);
    CHECK_INT(st.fold.pending + st.fold.in_flight, 0);

    /* close commits it */
    CHECK_INT(a->ops->tx_begin(a), 0);
    CHECK_INT(a->ops->fold_put(a, "t1", "f", "k", "{\"v\":4}", 4, t), 0);
    CHECK_INT(a->ops->tx_commit_batched(a), 0);
    a->ops->close(a);
    test_fold_read(b, "k", buf, sizeof buf);
    CHECK_STR(buf, "{\"v\":4}");
    b->ops->close(b);
}

/* queue_claim_current: a claim is current until its lease expired and
 * another claim took its group. The worker that held the stale claim asks
 * before its unit writes, so its undone unit leaves the batch that holds
 * the other claim's completion. */
static void test_claim_current(void)
{
    es_store *s, *other;
    if (test_open_pair(&s, &other) != 0) return;
    int64_t t = CONF_T0;
    CHECK_INT(conformance_enqueue1(s, conformance_job("j1", "gA", "p", t), t), 0);
    es_claim first, second;
    CHECK_INT(conformance_claim(s, 10, t, &first), 0);
    CHECK_INT(s->ops->queue_claim_current(s, &first), 0);
    int64_t later = t + CONF_LEASE + 1;
    CHECK_INT(conformance_claim(s, 10, later, &second), 0);
    CHECK_INT(s->ops->queue_claim_current(s, &second), 0);
    CHECK_INT(s->ops->tx_begin(s), 0);
    CHECK_INT(s->ops->queue_complete(s, &second, second.n, later), 0);
    CHECK_INT(s->ops->tx_commit_batched(s), 0);

    CHECK_INT(s->ops->tx_begin(s), 0);
    CHECK_INT(s->ops->queue_claim_current(s, &first), -1);
    CHECK_INT(diag_code_get(), DIAG_CONFLICT);
    s->ops->tx_rollback(s);
    /* a claim that finds nothing commits the batch: the completion is in */
    es_claim none;
    CHECK_INT(conformance_claim(s, 10, later, &none), 1);
    conformance_stats st = {0};
    CHECK_INT(other->ops->queue_stats(other, later, conformance_collect_stats, &st), 0);
    CHECK_INT(st.fold.pending + st.fold.in_flight, 0);
    store_claim_clear(&first);
    store_claim_clear(&second);
    s->ops->close(s);
    other->ops->close(other);
}

/* A waitable command job carries its own id as origin: send --wait sees it
 * before it runs, then the fold job it enqueued. */
static void test_origin_includes_command_itself(void)
{
    es_store *s = test_open_fresh(NULL);
    CHECK(s != NULL);
    if (!s) return;
    es_job cmd = conformance_job("cmd-1", "gC", "p", CONF_T0);
    cmd.kind = JOB_COMMAND;
    cmd.origin_id = (char *)"cmd-1";
    CHECK_INT(conformance_enqueue1(s, cmd, CONF_T0), 0);
    int64_t n = -1;
    unsigned mask = (1u << JOB_COMMAND) | (1u << JOB_FOLD);
    CHECK_INT(s->ops->queue_origin_pending(s, "cmd-1", mask, &n), 0);
    CHECK_INT(n, 1);
    es_claim c;
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &c), 0);
    es_job fold = conformance_job("f-1", "gF", "p", CONF_T0);
    fold.origin_id = (char *)"cmd-1";
    CHECK_INT(s->ops->tx_begin(s), 0);
    CHECK_INT(conformance_enqueue1(s, fold, CONF_T0), 0);
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, CONF_T0), 0);
    CHECK_INT(s->ops->tx_commit(s), 0);
    store_claim_clear(&c);
    CHECK_INT(s->ops->queue_origin_pending(s, "cmd-1", mask, &n), 0);
    CHECK_INT(n, 1);
    s->ops->close(s);
}

/* ---- concurrent claims */

#define CLAIM_GROUPS 40
#define CLAIM_JOBS_PER_GROUP 5
#define CLAIM_THREADS 4

typedef struct claim_shared {
    es_store *store;
    pthread_mutex_t mu;
    int done[CLAIM_GROUPS]; /* jobs claimed per group: exactly once each */
    int64_t last_pos[CLAIM_GROUPS];
    int out_of_order, errors;
} claim_shared;

static int group_index(const char *key)
{
    return atoi(key + 1);
}

static void *claim_worker(void *arg)
{
    claim_shared *sh = arg;
    es_store *s = sh->store;
    for (;;) {
        es_claim c;
        int64_t now = clock_now_ms();
        int rc = s->ops->queue_claim(s, "w", 3, now, 60000, 20, &c);
        if (rc == 1) {
            int total = 0;
            pthread_mutex_lock(&sh->mu);
            for (int g = 0; g < CLAIM_GROUPS; g++) total += sh->done[g];
            pthread_mutex_unlock(&sh->mu);
            if (total == CLAIM_GROUPS * CLAIM_JOBS_PER_GROUP) return NULL;
            continue;
        }
        if (rc < 0) {
            pthread_mutex_lock(&sh->mu);
            sh->errors++;
            pthread_mutex_unlock(&sh->mu);
            fprintf(stderr, "claim: %s\n", diag_message());
            return NULL;
        }
        /* two claimants of one group would both see its head: a position
         * seen twice (or going back) shows it, as does a count over 5 */
        int g = group_index(c.group_key);
        pthread_mutex_lock(&sh->mu);
        for (size_t i = 0; i < c.n; i++) {
            if (c.jobs[i].position <= sh->last_pos[g]) sh->out_of_order++;
            sh->last_pos[g] = c.jobs[i].position;
        }
        sh->done[g] += (int)c.n;
        pthread_mutex_unlock(&sh->mu);
        if (s->ops->queue_complete(s, &c, c.n, clock_now_ms()) != 0) {
            pthread_mutex_lock(&sh->mu);
            sh->errors++;
            pthread_mutex_unlock(&sh->mu);
            fprintf(stderr, "complete: %s\n", diag_message());
        }
        store_claim_clear(&c);
    }
}

static void test_concurrent_claims_exclusive(void)
{
    claim_shared sh;
    memset(&sh, 0, sizeof sh);
    pthread_mutex_init(&sh.mu, NULL);
    sh.store = test_open_fresh(NULL);
    CHECK(sh.store != NULL);
    if (!sh.store) return;
    es_store *s = sh.store;
    int64_t now = clock_now_ms();
    for (int j = 0; j < CLAIM_JOBS_PER_GROUP; j++) {
        for (int g = 0; g < CLAIM_GROUPS; g++) {
            char id[32], group[16];
            snprintf(id, sizeof id, "j%d-%d", g, j);
            snprintf(group, sizeof group, "g%d", g);
            CHECK_INT(conformance_enqueue1(s, conformance_job(id, group, "p", now), now), 0);
        }
    }
    pthread_t threads[CLAIM_THREADS];
    for (int i = 0; i < CLAIM_THREADS; i++)
        pthread_create(&threads[i], NULL, claim_worker, &sh);
    for (int i = 0; i < CLAIM_THREADS; i++) pthread_join(threads[i], NULL);
    CHECK_INT(sh.errors, 0);
    CHECK_INT(sh.out_of_order, 0);
    for (int g = 0; g < CLAIM_GROUPS; g++) CHECK_INT(sh.done[g], CLAIM_JOBS_PER_GROUP);
    es_claim c;
    CHECK_INT(conformance_claim(s, 10, now + 1000000, &c), 1);
    s->ops->close(s);
    pthread_mutex_destroy(&sh.mu);
}

/* ---- group commit: concurrent enqueues */

#define ENQ_THREADS 6
#define ENQ_CALLS 100
#define ENQ_JOBS 5

typedef struct enq_args {
    es_store *store;
    int thread;
    int errors;  /* calls whose result was not the expected one */
} enq_args;

/* Enqueues ENQ_CALLS batches of ENQ_JOBS jobs into this thread's group;
 * every fourth batch has a job without a tenant, so the whole batch must
 * fail (and only it, though it may share a transaction with others). */
static void *enq_worker(void *arg)
{
    enq_args *a = arg;
    char group[16];
    snprintf(group, sizeof group, "g%d", a->thread);
    for (int k = 0; k < ENQ_CALLS; k++) {
        int bad = k % 4 == 3;
        char ids[ENQ_JOBS][32];
        es_job jobs[ENQ_JOBS];
        int64_t now = clock_now_ms();
        for (int j = 0; j < ENQ_JOBS; j++) {
            snprintf(ids[j], sizeof ids[j], "%s-%d-%d", bad ? "bad" : "ok", k, j);
            jobs[j] = conformance_job(ids[j], group, "p", now);
        }
        if (bad) jobs[ENQ_JOBS - 1].tenant_id = NULL;
        int rc = a->store->ops->queue_enqueue(a->store, jobs, ENQ_JOBS, now);
        if (bad ? rc != -1 || diag_code_get() != DIAG_INVALID : rc != 0) a->errors++;
    }
    return NULL;
}

static void test_concurrent_enqueues_group_commit(void)
{
    es_store *s = test_open_fresh(NULL);
    CHECK(s != NULL);
    if (!s) return;
    pthread_t threads[ENQ_THREADS];
    enq_args args[ENQ_THREADS];
    for (int i = 0; i < ENQ_THREADS; i++) {
        args[i] = (enq_args){s, i, 0};
        pthread_create(&threads[i], NULL, enq_worker, &args[i]);
    }
    for (int i = 0; i < ENQ_THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK_INT(args[i].errors, 0);
    }
    /* each group holds exactly its good batches' jobs, in enqueue order */
    int jobs = 0, bad = 0, out_of_order = 0;
    es_claim c;
    while (conformance_claim(s, 1000, clock_now_ms() + 1000, &c) == 0) {
        int last_k = -1, last_j = ENQ_JOBS - 1;
        for (size_t i = 0; i < c.n; i++) {
            int k = -1, j = -1;
            if (strncmp(c.jobs[i].id, "bad", 3) == 0) bad++;
            sscanf(strchr(c.jobs[i].id, '-'), "-%d-%d", &k, &j);
            if (k < last_k || (k == last_k && j != last_j + 1) ||
                (k > last_k && (j != 0 || last_j != ENQ_JOBS - 1)))
                out_of_order++;
            last_k = k;
            last_j = j;
        }
        jobs += (int)c.n;
        CHECK_INT(s->ops->queue_complete(s, &c, c.n, clock_now_ms()), 0);
        store_claim_clear(&c);
    }
    CHECK_INT(jobs, ENQ_THREADS * (ENQ_CALLS - ENQ_CALLS / 4) * ENQ_JOBS);
    CHECK_INT(bad, 0);
    CHECK_INT(out_of_order, 0);
    s->ops->close(s);
}

/* ---- waiting claims */

typedef struct wait_args {
    es_store *store;
    int rc;
    es_claim claim;
} wait_args;

static void *wait_claimer(void *arg)
{
    wait_args *w = arg;
    w->rc = w->store->ops->queue_claim(w->store, "w", 10, clock_now_ms(), 60000, 10000,
                                       &w->claim);
    return NULL;
}

static void test_claim_waits_for_enqueue(void)
{
    es_store *s = test_open_fresh(NULL);
    CHECK(s != NULL);
    if (!s) return;
    es_claim c;
    CHECK_INT(s->ops->queue_claim(s, "w", 10, clock_now_ms(), 60000, 30, &c), 1);

    wait_args w = {.store = s, .rc = -2};
    pthread_t t;
    pthread_create(&t, NULL, wait_claimer, &w);
    int64_t now = clock_now_ms();
    CHECK_INT(conformance_enqueue1(s, conformance_job("j1", "gA", "p", now), now), 0);
    pthread_join(t, NULL);
    /* the waiter returns with the job (it waits up to 10 s, so a result of
     * 1 would mean the wake-up was lost) */
    CHECK_INT(w.rc, 0);
    CHECK_INT(w.claim.n, 1);
    store_claim_clear(&w.claim);
    s->ops->close(s);
}

/* A job enqueued by another process (like `esengine send`) reaches a
 * waiting claim through polling: no in-process wake-up exists for it. */
static void test_claim_sees_other_process(void)
{
    char *dir = test_make_dir();
    es_store *s = dir ? sqlite_store_open(dir) : NULL;
    CHECK(s != NULL);
    if (!s) return;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        es_store *child = sqlite_store_open(dir);
        int64_t now = clock_now_ms();
        int rc = child && conformance_enqueue1(child, conformance_job("x1", "gX", "p", now),
                                               now) == 0;
        if (child) child->ops->close(child);
        _exit(rc ? 0 : 1);
    }
    CHECK(pid > 0);
    es_claim c;
    CHECK_INT(s->ops->queue_claim(s, "w", 10, clock_now_ms(), 60000, 10000, &c), 0);
    CHECK_INT(c.n, 1);
    if (c.n) CHECK_STR(c.jobs[0].id, "x1");
    store_claim_clear(&c);
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK_INT(status, 0);
    s->ops->close(s);
}

/* ---- WAL */

/* A worker writing batched units back to back (each 1 ms of work, 3 KB
 * states on 10 keys) still lets the WAL rewind once it passes the hard
 * limit: the checkpointer's locked pass commits the open batch, so the
 * next transaction begins on a fully copied WAL (sqlite_store.c). */
static void test_wal_rewinds_under_batches(void)
{
    char *dir = test_make_dir();
    es_store *s = dir ? sqlite_store_open(dir) : NULL;
    CHECK(s != NULL);
    if (!s) return;
    sqlite_store_set_checkpoint_frames(s, 32, 256);
    char state[3000 + 1];
    memset(state, 'x', sizeof state - 1);
    state[0] = '"';
    state[sizeof state - 2] = '"';
    state[sizeof state - 1] = '\0';
    int rewound = 0, most = 0, last = 0;
    int64_t deadline = clock_monotonic_ms() + 20000;
    for (int unit = 0; !rewound && clock_monotonic_ms() < deadline; unit++) {
        CHECK_INT(s->ops->tx_begin(s), 0);
        for (int k = 0; k < 10; k++) {
            char key[16];
            snprintf(key, sizeof key, "k%d", k);
            CHECK_INT(s->ops->fold_put(s, "t1", "f", key, state, unit + 1, CONF_T0), 0);
        }
        clock_sleep_ms(1);
        CHECK_INT(s->ops->tx_commit_batched(s), 0);
        int frames = atomic_load(&((sqlite_store *)s)->wal_frames);
        rewound = frames < last;
        last = frames;
        if (frames > most) most = frames;
    }
    CHECK(rewound);
    fprintf(stderr, "  WAL rewound after %d frames\n", most);
    s->ops->close(s);
}

/* ---- durability */

static void test_reopen_keeps_data(void)
{
    char *dir = test_make_dir();
    CHECK(dir != NULL);
    if (!dir) return;
    es_store *s = sqlite_store_open(dir);
    CHECK(s != NULL);
    if (!s) return;
    es_event ev = conformance_event("t1", "a1", "e1", NULL);
    append_outcome o;
    CHECK_INT(s->ops->event_append(s, &ev, 1, CONF_T0, &o), 0);
    CHECK_INT(conformance_enqueue1(s, conformance_job("j1", "gA", "p", CONF_T0), CONF_T0), 0);
    CHECK_INT(conformance_enqueue1(s, conformance_job("j2", "gA", "p", CONF_T0), CONF_T0), 0);
    CHECK_INT(s->ops->fold_put(s, "t1", "f", "a1", "{\"n\":1}", 1, CONF_T0), 0);
    CHECK_INT(s->ops->record_append(s, "t1", "m", "r1", "a1", "{}", CONF_T0), 0);
    es_claim c;
    CHECK_INT(conformance_claim(s, 1, CONF_T0, &c), 0);
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, CONF_T0), 0);
    int64_t pos = c.n ? c.jobs[0].position : 0;
    store_claim_clear(&c);
    s->ops->close(s);

    s = sqlite_store_open(dir);
    CHECK(s != NULL);
    if (!s) return;
    int n = 0;
    CHECK_INT(s->ops->event_read(s, "t1", "trace", "a1", 0, 0, test_count_events, &n), 0);
    CHECK_INT(n, 1);
    char *state = NULL;
    int64_t last = 0;
    CHECK_INT(s->ops->fold_get(s, "t1", "f", "a1", &state, &last), 0);
    CHECK_STR(state, "{\"n\":1}");
    free(state);
    conformance_records r;
    memset(&r, 0, sizeof r);
    CHECK_INT(s->ops->record_list(s, "t1", "m", 0, conformance_collect_record, &r), 0);
    CHECK_INT(r.n, 1);
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &c), 0);
    CHECK_INT(c.n, 1);
    if (c.n) {
        CHECK_STR(c.jobs[0].id, "j2");
        CHECK(c.jobs[0].position > pos);
    }
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, CONF_T0), 0);
    store_claim_clear(&c);

    /* positions keep increasing after a group emptied and the store reopened */
    CHECK_INT(conformance_enqueue1(s, conformance_job("j3", "gA", "p", CONF_T0), CONF_T0), 0);
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &c), 0);
    if (c.n) CHECK(c.jobs[0].position > pos + 1);
    store_claim_clear(&c);
    s->ops->close(s);
}

int main(void)
{
    conformance_run(test_open_fresh, NULL);
    RUN_TEST(test_connection_settings);
    RUN_TEST(test_rollback_leaves_nothing);
    RUN_TEST(test_counters_written_at_commit);
    RUN_TEST(test_batched_units);
    RUN_TEST(test_claim_current);
    RUN_TEST(test_origin_includes_command_itself);
    RUN_TEST(test_concurrent_claims_exclusive);
    RUN_TEST(test_concurrent_enqueues_group_commit);
    RUN_TEST(test_claim_waits_for_enqueue);
    RUN_TEST(test_claim_sees_other_process);
    RUN_TEST(test_wal_rewinds_under_batches);
    RUN_TEST(test_reopen_keeps_data);
    test_remove_dirs();
    return TEST_EXIT();
}
