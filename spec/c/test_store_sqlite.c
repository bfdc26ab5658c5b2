/* test_store_sqlite.c: the store conformance suite against the embedded
 * SQLite backend, plus its own guarantees: atomic units of work, exclusive
 * concurrent claims, concurrent enqueues (group commit), durability across
 * reopen, the move of a queue of schema 1 or 3. */
#include "store_conformance.h"

#include "clock.h"
#include "sqlite_store.h"

#include <sqlite3.h>

#include <ftw.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_DIRS 64

static char *test_dirs[MAX_DIRS];
static int n_test_dirs;

static char *test_make_dir(void)
{
    char tmpl[] = "/tmp/esengine-sqlite-XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir || n_test_dirs == MAX_DIRS) return NULL;
    return test_dirs[n_test_dirs++] = strdup(dir);
}

static int test_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void test_remove_dirs(void)
{
    for (int i = 0; i < n_test_dirs; i++) {
        nftw(test_dirs[i], test_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        free(test_dirs[i]);
    }
    n_test_dirs = 0;
}

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
    CHECK_INT(a->ops->tx_begin(a), 0);
    CHECK_INT(a->ops->fold_put(a, "t1", "f", "k", "{\"v\":2}", 2, t), 0);
    a->ops->tx_rollback(a);
    test_fold_read(a, "k", buf, sizeof buf);
    CHECK_STR(buf, "{\"v\":1}");
    test_fold_read(b, "k", buf, sizeof buf);
    CHECK_STR(buf, "");

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

/* Queues `n` jobs in a new store at a fresh directory, closes it and, when
 * rewrite_sql is set, runs it on the database (to make it as an older
 * schema did). Returns the directory (NULL on failure); its database's
 * path goes into path. */
static char *queue_then_rewrite(const es_job *jobs, size_t n, const char *rewrite_sql,
                                char path[256])
{
    char *dir = test_make_dir();
    es_store *s = dir ? sqlite_store_open(dir) : NULL;
    CHECK(s != NULL);
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++) CHECK_INT(conformance_enqueue1(s, jobs[i], CONF_T0), 0);
    s->ops->close(s);
    snprintf(path, 256, "%s/esengine.db", dir);
    if (!rewrite_sql) return dir;
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db, rewrite_sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    return dir;
}

/* Checks that `sql` on the database at path returns one row whose first n
 * columns are the numbers in expect. */
static void check_db_numbers(const char *path, const char *sql, const int *expect, int n)
{
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    for (int i = 0; i < n; i++) CHECK_INT(sqlite3_column_int(st, i), expect[i]);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Queues two jobs j1 and j2 (group gA), rewrites the jobs table with
 * `rewrite_sql` (queue_then_rewrite), then opens the store again: the
 * moved jobs are claimed in order, a moved id is refused a second time,
 * and `check_sql` (four numbers about the database after the move)
 * returns `expect`. */
static void test_reopen_moves_queue(const char *rewrite_sql, const char *check_sql,
                                    const int expect[4])
{
    const es_job jobs[2] = {conformance_job("j1", "gA", "p1", CONF_T0),
                            conformance_job("j2", "gA", "p2", CONF_T0)};
    char path[256];
    char *dir = queue_then_rewrite(jobs, 2, rewrite_sql, path);
    if (!dir) return;
    es_store *s = sqlite_store_open(dir);
    CHECK(s != NULL);
    if (!s) return;
    CHECK_INT(conformance_enqueue1(s, conformance_job("j2", "gA", "again", CONF_T0), CONF_T0), 0);
    es_claim c;
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &c), 0);
    CHECK_INT(c.n, 2);
    if (c.n == 2) {
        CHECK_STR(c.jobs[0].id, "j1");
        CHECK_STR(c.jobs[1].payload, "p2");
    }
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, CONF_T0), 0);
    store_claim_clear(&c);
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &c), 1);
    s->ops->close(s);
    check_db_numbers(path, check_sql, expect, 4);
}

/* A schema-1 queue (jobs clustered by group, WITHOUT ROWID) is moved over:
 * no schema-1 table or schema 2's index of every job's origin is left. */
static void test_reopen_migrates_schema1_jobs(void)
{
    test_reopen_moves_queue(
        "BEGIN; ALTER TABLE jobs RENAME TO jobs_new;"
        "DROP INDEX jobs_group; DROP INDEX jobs_waited; DROP INDEX jobs_dedup; DROP INDEX jobs_later;"
        "CREATE TABLE jobs (group_key TEXT NOT NULL, pos INTEGER NOT NULL, id TEXT NOT NULL,"
        " kind INTEGER NOT NULL, tenant_id TEXT NOT NULL, pipeline TEXT NOT NULL,"
        " component TEXT NOT NULL, dedup_id TEXT, dedup_mode INTEGER NOT NULL DEFAULT 0,"
        " origin_id TEXT, run_at INTEGER NOT NULL, enqueued_at INTEGER NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, payload BLOB NOT NULL,"
        " PRIMARY KEY (group_key, pos), UNIQUE (group_key, id)) WITHOUT ROWID;"
        "CREATE INDEX jobs_origin ON jobs (coalesce(origin_id, id));"
        "CREATE INDEX jobs_dedup ON jobs (dedup_id) WHERE dedup_id IS NOT NULL;"
        "CREATE INDEX jobs_later ON jobs (run_at) WHERE run_at > enqueued_at;"
        "INSERT INTO jobs SELECT group_key, pos, id, kind, tenant_id, pipeline, component,"
        " dedup_id, dedup_mode, origin_id, run_at, enqueued_at, attempts, last_error, payload"
        " FROM jobs_new;"
        "DROP TABLE jobs_new; UPDATE schema_version SET version = 1; COMMIT;",

        "SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'jobs'"
        "        AND sql LIKE '%WITHOUT ROWID%'),"
        " (SELECT count(*) FROM sqlite_master WHERE name = 'jobs_v1'),"
        " (SELECT version FROM schema_version),"
        " (SELECT count(*) FROM sqlite_master WHERE name = 'jobs_origin')",
        (const int[4]){0, 0, 6, 0});
}

/* A queue of schemas 2 and 3 (job ids unique per (group_key, id), declared
 * in the jobs table) is moved to the current schema (the jobs_id index,
 * keyed by id first). */
static void test_reopen_migrates_schema3_jobs(void)
{
    test_reopen_moves_queue(
        "BEGIN; ALTER TABLE jobs RENAME TO jobs_new;"
        "DROP INDEX jobs_id; DROP INDEX jobs_group; DROP INDEX jobs_waited;"
        " DROP INDEX jobs_dedup; DROP INDEX jobs_later;"
        "CREATE TABLE jobs (pos INTEGER PRIMARY KEY, group_key TEXT NOT NULL, id TEXT NOT NULL,"
        " kind INTEGER NOT NULL, tenant_id TEXT NOT NULL, pipeline TEXT NOT NULL,"
        " component TEXT NOT NULL, dedup_id TEXT, dedup_mode INTEGER NOT NULL DEFAULT 0,"
        " origin_id TEXT, run_at INTEGER NOT NULL, enqueued_at INTEGER NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, payload BLOB NOT NULL,"
        " items INTEGER NOT NULL DEFAULT 1, skip_payload BLOB, UNIQUE (group_key, id));"
        "CREATE INDEX jobs_group ON jobs (group_key, pos);"
        "CREATE INDEX jobs_waited ON jobs (origin_id) WHERE origin_id IS NOT NULL;"
        "CREATE INDEX jobs_dedup ON jobs (dedup_id) WHERE dedup_id IS NOT NULL;"
        "CREATE INDEX jobs_later ON jobs (run_at) WHERE run_at > enqueued_at;"
        "INSERT INTO jobs SELECT pos, group_key, id, kind, tenant_id, pipeline, component,"
        " dedup_id, dedup_mode, origin_id, run_at, enqueued_at, attempts, last_error, payload,"
        " items, skip_payload FROM jobs_new;"
        "DROP TABLE jobs_new; UPDATE schema_version SET version = 3; COMMIT;",

        "SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'jobs'"
        "        AND sql LIKE '%UNIQUE (group_key, id)%'),"
        " (SELECT count(*) FROM sqlite_master WHERE name = 'jobs_v3'),"
        " (SELECT version FROM schema_version),"
        " (SELECT count(*) FROM sqlite_master WHERE name = 'jobs_id' AND tbl_name = 'jobs')",
        (const int[4]){0, 0, 6, 1});
}

/* Rewrites a store's jobs and groups tables as schema 4 made them: jobs
 * indexed by the group key's text, no gid in either table. */
static const char *const SCHEMA4_REWRITE_SQL =
    "BEGIN; ALTER TABLE jobs RENAME TO jobs_new;"
    "DROP INDEX jobs_id; DROP INDEX jobs_group; DROP INDEX jobs_waited;"
    " DROP INDEX jobs_dedup; DROP INDEX jobs_later; DROP INDEX jobs_projection;"
    "CREATE TABLE jobs (pos INTEGER PRIMARY KEY, group_key TEXT NOT NULL, id TEXT NOT NULL,"
    " kind INTEGER NOT NULL, tenant_id TEXT NOT NULL, pipeline TEXT NOT NULL,"
    " component TEXT NOT NULL, dedup_id TEXT, dedup_mode INTEGER NOT NULL DEFAULT 0,"
    " origin_id TEXT, run_at INTEGER NOT NULL, enqueued_at INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, payload BLOB NOT NULL,"
    " items INTEGER NOT NULL DEFAULT 1, skip_payload BLOB);"
    "CREATE INDEX jobs_group ON jobs (group_key, pos);"
    "CREATE UNIQUE INDEX jobs_id ON jobs (id, group_key);"
    "CREATE INDEX jobs_waited ON jobs (origin_id) WHERE origin_id IS NOT NULL;"
    "CREATE INDEX jobs_dedup ON jobs (dedup_id) WHERE dedup_id IS NOT NULL;"
    "CREATE INDEX jobs_later ON jobs (run_at) WHERE run_at > enqueued_at;"
    "CREATE INDEX jobs_projection ON jobs (pos) WHERE kind <> 1;"
    "INSERT INTO jobs SELECT pos, group_key, id, kind, tenant_id, pipeline, component,"
    " dedup_id, dedup_mode, origin_id, run_at, enqueued_at, attempts, last_error, payload,"
    " items, skip_payload FROM jobs_new;"
    "DROP TABLE jobs_new; ALTER TABLE groups DROP COLUMN gid;"
    "UPDATE schema_version SET version = 4; COMMIT;";

/* A schema-4 queue gets the gid columns and both job indexes keyed by gid;
 * its moved jobs are claimed in order. */
static void test_reopen_migrates_schema4_jobs(void)
{
    test_reopen_moves_queue(
        SCHEMA4_REWRITE_SQL,
        "SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'jobs_group'"
        "        AND sql LIKE '%(gid, pos)%'),"
        " (SELECT count(*) FROM sqlite_master WHERE name = 'jobs_id'"
        "        AND sql LIKE '%(id, gid)%'),"
        " (SELECT version FROM schema_version),"
        " (SELECT count(*) FROM pragma_table_info('groups') WHERE name = 'gid')",
        (const int[4]){1, 1, 6, 1});
}

/* The gids given to a schema-4 queue: each group's is its first job's
 * position, and its jobs carry it (two groups, so a gid left at 0 shows). */
static void test_schema4_gids_filled(void)
{
    const es_job jobs[3] = {conformance_job("j1", "gA", "p1", CONF_T0),
                            conformance_job("j2", "gB", "p2", CONF_T0),
                            conformance_job("j3", "gA", "p3", CONF_T0)};
    char path[256];
    char *dir = queue_then_rewrite(jobs, 3, SCHEMA4_REWRITE_SQL, path);
    if (!dir) return;
    es_store *s = sqlite_store_open(dir);
    CHECK(s != NULL);
    if (s) s->ops->close(s);
    check_db_numbers(path,
                     "SELECT (SELECT count(*) FROM jobs j JOIN groups g"
                     "        ON g.gid = j.gid AND g.group_key = j.group_key),"
                     " (SELECT count(DISTINCT gid) FROM groups WHERE gid > 0),"
                     " (SELECT count(*) FROM groups g WHERE g.gid ="
                     "  (SELECT min(pos) FROM jobs j WHERE j.group_key = g.group_key))",
                     (const int[3]){3, 2, 2}, 3);
}

/* Rewrites the events table to schema 5's layout: every event's key
 * stored (its id when it had none), unique by a constraint of the table. */
static const char *const SCHEMA5_EVENTS_REWRITE_SQL =
    "BEGIN; ALTER TABLE events RENAME TO events_new;"
    "CREATE TABLE events (tenant_id TEXT NOT NULL, aggregate_type TEXT NOT NULL,"
    " aggregate_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL UNIQUE,"
    " type TEXT NOT NULL, version TEXT NOT NULL, occurred_at INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL, idempotency_key TEXT NOT NULL, data TEXT NOT NULL,"
    " metadata TEXT NOT NULL, PRIMARY KEY (tenant_id, aggregate_type, aggregate_id, seq),"
    " UNIQUE (tenant_id, aggregate_type, aggregate_id, idempotency_key)) WITHOUT ROWID;"
    "INSERT INTO events SELECT tenant_id, aggregate_type, aggregate_id, seq, id, type,"
    " version, occurred_at, created_at, coalesce(idempotency_key, id), data, metadata"
    " FROM events_new;"
    "DROP TABLE events_new; UPDATE schema_version SET version = 5; COMMIT;";

/* A schema-5 event log is moved over when the store opens: keys equal to
 * the id are dropped (and read back as the id), a handler's key is kept
 * and still refuses another event, a retried event is still known by its
 * id, and the table's old constraint is gone. */
static void test_reopen_migrates_schema5_events(void)
{
    char *dir = test_make_dir();
    es_store *s = dir ? sqlite_store_open(dir) : NULL;
    CHECK(s != NULL);
    if (!s) return;
    es_event evs[2] = {conformance_event("t1", "a1", "e1", "k1"),
                       conformance_event("t1", "a1", "e2", NULL)};
    append_outcome outs[2] = {0};
    CHECK_INT(s->ops->event_append(s, evs, 2, CONF_T0, outs), 0);
    s->ops->close(s);
    char path[256];
    snprintf(path, sizeof path, "%s/esengine.db", dir);
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db, SCHEMA5_EVENTS_REWRITE_SQL, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    check_db_numbers(path, "SELECT count(*) FROM events WHERE idempotency_key IS NOT NULL",
                     (const int[1]){2}, 1);

    CHECK((s = sqlite_store_open(dir)) != NULL);
    if (!s) return;
    conformance_events c = conformance_read(s, "t1", "a1", 0, 0);
    CHECK_INT(c.n, 2);
    CHECK_STR(c.ikeys[0], "k1");
    CHECK_STR(c.ikeys[1], "e2");
    append_outcome o = 0;
    es_event dup = conformance_event("t1", "a1", "e3", "k1");
    CHECK_INT(s->ops->event_append(s, &dup, 1, CONF_T0 + 1, &o), 0);
    CHECK_INT(o, APPEND_DUPLICATE);
    es_event retry = conformance_event("t1", "a1", "e2", NULL);
    CHECK_INT(s->ops->event_append(s, &retry, 1, CONF_T0 + 2, &o), 0);
    CHECK_INT(o, APPEND_RETRY);
    CHECK_INT(retry.seq, 2);
    es_event next = conformance_event("t1", "a1", "e4", NULL);
    CHECK_INT(s->ops->event_append(s, &next, 1, CONF_T0 + 3, &o), 0);
    CHECK_INT(o, APPEND_NEW);
    CHECK_INT(next.seq, 3);
    s->ops->close(s);
    check_db_numbers(path,
                     "SELECT (SELECT version FROM schema_version),"
                     " (SELECT count(*) FROM events WHERE idempotency_key IS NULL),"
                     " (SELECT count(*) FROM sqlite_master WHERE name = 'events_v5'),"
                     " (SELECT count(*) FROM sqlite_master WHERE name = 'events'"
                     "  AND sql LIKE '%idempotency_key TEXT NOT NULL%'),"
                     " (SELECT count(*) FROM sqlite_master WHERE name = 'events_idempotency')",
                     (const int[5]){6, 2, 0, 0, 1}, 5);
}

/* A job whose id was drawn new (fresh_id) is stored outside the jobs_id
 * index; a job with a derived or client id is still deduped by it. */
static void test_fresh_ids_skip_id_index(void)
{
    es_job jobs[3] = {conformance_job("f1", "gA", "p1", CONF_T0),
                      conformance_job("d1", "gA", "p2", CONF_T0),
                      conformance_job("d1", "gA", "p3", CONF_T0)};
    jobs[0].fresh_id = 1;
    char path[256];
    if (!queue_then_rewrite(jobs, 3, NULL, path)) return;
    check_db_numbers(path,
                     "SELECT (SELECT fresh FROM jobs WHERE id = 'f1'),"
                     " (SELECT fresh FROM jobs WHERE id = 'd1'),"
                     " (SELECT count(*) FROM jobs WHERE id = 'd1'),"
                     " (SELECT count(*) FROM sqlite_master WHERE name = 'jobs_id'"
                     "  AND sql LIKE '%WHERE fresh = 0%')",
                     (const int[4]){1, 0, 1, 1}, 4);
}

int main(void)
{
    conformance_run(test_open_fresh, NULL);
    RUN_TEST(test_rollback_leaves_nothing);
    RUN_TEST(test_counters_written_at_commit);
    RUN_TEST(test_batched_units);
    RUN_TEST(test_origin_includes_command_itself);
    RUN_TEST(test_concurrent_claims_exclusive);
    RUN_TEST(test_concurrent_enqueues_group_commit);
    RUN_TEST(test_claim_waits_for_enqueue);
    RUN_TEST(test_claim_sees_other_process);
    RUN_TEST(test_reopen_keeps_data);
    RUN_TEST(test_reopen_migrates_schema1_jobs);
    RUN_TEST(test_reopen_migrates_schema3_jobs);
    RUN_TEST(test_reopen_migrates_schema4_jobs);
    RUN_TEST(test_schema4_gids_filled);
    RUN_TEST(test_fresh_ids_skip_id_index);
    RUN_TEST(test_reopen_migrates_schema5_events);
    test_remove_dirs();
    return TEST_EXIT();
}
