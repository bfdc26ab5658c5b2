/* test_store_redis_finish.c: claims of the Redis queue finished together
 * with the jobs their units made (queue_finish_many, queue_finish.lua),
 * against a private redis-server: jobs queued exactly for the live
 * claims, and fold states written by the finish instead of their jobs
 * (es_job fold_write) only while the stored state is the one folded from. */
#include "store_conformance_helpers.h"

#include "redis_test_queue.h"

#include "clock.h"

/* Claims finished in one call (queue_finish_many: more claims than one
 * script call takes, pipelined), each with a job its unit made: each
 * group loses the jobs its claim held and is ready again, and each live
 * claim's job is queued, inline when marked fresh_when_finished, keyed
 * otherwise; a stale claim among them gets -1 and changes nothing (its
 * job is not queued), its group's live claim is untouched. */
static void test_finish_many(void)
{
    enum { N = 70 };
    char queue[64];
    es_store *s = open_fresh_named(queue);
    int64_t t = clock_now_ms();
    char ids[N][2][16], groups[N][16], made[N + 1][16];
    for (int i = 0; i < N; i++) {
        snprintf(groups[i], sizeof groups[i], "gM%d", i);
        for (int k = 0; k < 2; k++) {
            snprintf(ids[i][k], sizeof ids[i][k], "m%d-%d", i, k);
            es_job j = make_job(ids[i][k], "t1", groups[i], t);
            CHECK_INT(s->ops->queue_enqueue(s, &j, 1, t), 0);
        }
    }
    es_job j = make_job("st", "t1", "gS", t - 1); /* ready first: claimed first */
    CHECK_INT(s->ops->queue_enqueue(s, &j, 1, t - 1), 0);
    es_claim c[N + 1], live;
    const es_claim *claims[N + 1];
    es_job made_jobs[N + 1];
    const es_job *jobs[N + 1];
    size_t n_jobs[N + 1];
    memset(c, 0, sizeof c);
    /* the claim of gS goes stale first: its lease (100 ms) passes */
    int stale = -1;
    for (int i = 0; i <= N; i++) {
        CHECK_INT(s->ops->queue_claim(s, "w1", 1, t, i == 0 ? 100 : 30000, 0, &c[i]), 0);
        claims[i] = &c[i];
        /* the unit's job: delayed, so that the claims below do not see it */
        snprintf(made[i], sizeof made[i], "made%d", i);
        made_jobs[i] = make_job(made[i], "t1", "gMade", t + 600000);
        made_jobs[i].origin_id = NULL;
        made_jobs[i].fresh_when_finished = i % 2;
        jobs[i] = &made_jobs[i];
        n_jobs[i] = 1;
    }
    for (int i = 0; i <= N; i++)
        if (c[i].group_key && strcmp(c[i].group_key, "gS") == 0) stale = i;
    CHECK_INT(stale, 0);
    CHECK_INT(s->ops->queue_claim(s, "w2", 1, t + 99, 30000, 0, &live), 1); /* all held */
    if (stale == 0) {
        CHECK_INT(s->ops->queue_claim(s, "w2", 1, t + 101, 30000, 0, &live), 0);
        CHECK_STR(live.group_key, "gS");
    }
    int status[N + 1];
    CHECK(s->ops->queue_finish_many != NULL);
    CHECK_INT(s->ops->queue_finish_many(s, claims, jobs, n_jobs, N + 1, t + 102, status), 0);
    for (int i = 0; i <= N; i++) CHECK_INT(status[i], i == stale ? -1 : 0);
    /* the live claims' jobs are queued, in claim order; inline (no key)
     * when fresh_when_finished */
    CHECK_INT(redis_integer("LLEN {%s}:g:gMade", queue), N);
    for (int i = 1; i <= N; i++)
        CHECK_INT(redis_integer("EXISTS {%s}:j:%s", queue, made[i]), i % 2 ? 0 : 1);
    CHECK_INT(redis_integer("EXISTS {%s}:j:%s", queue, made[0]), 0);
    /* each group's second job is next; gS stays with its live claim */
    for (int i = 0; i < N; i++) {
        es_claim n;
        CHECK_INT(s->ops->queue_claim(s, "w3", 5, t + 103, 30000, 0, &n), 0);
        CHECK_INT(n.n, 1);
        if (n.n) CHECK(strcmp(n.jobs[0].id + strlen(n.jobs[0].id) - 2, "-1") == 0);
        CHECK_INT(s->ops->queue_complete(s, &n, n.n, t + 104), 0);
        store_claim_clear(&n);
    }
    es_claim none;
    CHECK_INT(s->ops->queue_claim(s, "w3", 5, t + 105, 30000, 0, &none), 1);
    CHECK_INT(s->ops->queue_complete(s, &live, live.n, t + 106), 0);
    store_claim_clear(&live);
    /* the made jobs, once due, in claim order */
    es_claim m;
    CHECK_INT(s->ops->queue_claim(s, "w4", 100, t + 600001, 30000, 0, &m), 0);
    CHECK_INT(m.n, N);
    for (size_t i = 0; i < m.n; i++) CHECK_STR(m.jobs[i].id, made[i + 1]);
    CHECK_INT(s->ops->queue_complete(s, &m, m.n, t + 600002), 0);
    store_claim_clear(&m);
    for (int i = 0; i <= N; i++) store_claim_clear(&c[i]);
    s->ops->close(s);
}

/* A claim whose unit made 9000 jobs of one group, half of them keyed: the
 * finish queues them all, and a claim of all 9000 completes (Lua unpacks
 * at most ~8000 values: the scripts push, check and drop them in slices;
 * either call failed before, at every retry). */
static void test_finish_huge(void)
{
    enum { N = 9000 };
    char queue[64];
    es_store *s = open_fresh_named(queue);
    int64_t t = clock_now_ms();
    es_job first = make_job("h0", "t1", "gH", t);
    CHECK_INT(s->ops->queue_enqueue(s, &first, 1, t), 0);
    es_claim c;
    CHECK_INT(s->ops->queue_claim(s, "w1", 1, t, 30000, 0, &c), 0);
    es_job *made = calloc(N, sizeof *made);
    char (*ids)[16] = calloc(N, sizeof *ids);
    if (!made || !ids) CHECK(0);
    for (int i = 0; made && ids && i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "big%d", i);
        made[i] = make_job(ids[i], "t1", "gBig", t);
        made[i].origin_id = NULL;
        made[i].fresh_when_finished = i % 2; /* inline; else keyed */
    }
    const es_claim *claims[1] = {&c};
    const es_job *jobs[1] = {made};
    size_t n_jobs[1] = {N};
    int status[1];
    CHECK_INT(s->ops->queue_finish_many(s, claims, jobs, n_jobs, 1, t + 1, status), 0);
    CHECK_INT(status[0], 0);
    CHECK_INT(redis_integer("LLEN {%s}:g:gBig", queue), N);
    CHECK_INT(redis_integer("EXISTS {%s}:j:big8998", queue), 1);
    CHECK_INT(redis_integer("EXISTS {%s}:j:big8999", queue), 0);
    es_claim all;
    CHECK_INT(s->ops->queue_claim(s, "w2", N, t + 2, 30000, 0, &all), 0);
    CHECK_INT(all.n, N);
    if (all.n == N) CHECK_STR(all.jobs[N - 1].id, "big8999");
    CHECK_INT(s->ops->queue_complete(s, &all, all.n, t + 3), 0);
    CHECK_INT(redis_integer("EXISTS {%s}:g:gBig", queue), 0);
    CHECK_INT(redis_integer("EXISTS {%s}:j:big8998", queue), 0);
    store_claim_clear(&all);
    store_claim_clear(&c);
    free(made);
    free(ids);
    s->ops->close(s);
}

/* A fold job the unit made, of group g, due at t, carrying the state it
 * folded (key's, from from_state at from_seq to last_seq). */
static es_job fold_job(const char *id, const char *g, int64_t t, es_fold_write *w,
                       const char *key, const char *from_state, int64_t from_seq,
                       int64_t last_seq)
{
    es_job j = make_job(id, "t1", g, t);
    j.origin_id = NULL;
    j.kind = JOB_FOLD;
    j.fresh_when_finished = 1;
    *w = (es_fold_write){.table = "totals", .key = (char *)key, .state_json = "{\"n\":2}",
                         .from_state = (char *)from_state, .from_seq = from_seq,
                         .first_seq = from_seq + 1, .last_seq = last_seq};
    j.fold_write = w;
    return j;
}

/* The state and last seq the fold store holds for key (rc of fold_get). */
static int stored(es_store *s, const char *key, char **state, int64_t *seq)
{
    *state = NULL;
    *seq = 0;
    return s->ops->fold_get(s, "t1", "totals", key, state, seq);
}

/* 1 when key's stored state and seq are `state` and seq. */
static int stored_is(es_store *s, const char *key, const char *state, int64_t seq)
{
    char *got;
    int64_t got_seq;
    int same = stored(s, key, &got, &got_seq) == 0 && strcmp(got, state) == 0 && got_seq == seq;
    free(got);
    return same;
}

/* Claims finished with fold jobs carrying their states: the state is
 * written and the job dropped where the fold's group has no job and the
 * stored state and seq are still those the unit folded from (an existing
 * state, or none: seq 0); the job is queued and the state left alone
 * where another write came in between (a later seq, or another state at
 * the same seq, as a replay's swap leaves) or a job of the fold waits; a
 * stale claim writes nothing and queues nothing. */
static void test_finish_fold_writes(void)
{
    enum { N = 6, STALE = 3 };
    char queue[64];
    es_store *s = open_fresh_named(queue);
    CHECK_INT(s->ops->queue_writes_folds(s, s), 1);
    CHECK_INT(s->ops->queue_writes_folds(s, NULL), 0);
    int64_t t = clock_now_ms();
    es_claim c[N];
    const es_claim *claims[N];
    for (int i = 0; i < N; i++) {
        char id[8], g[8];
        snprintf(id, sizeof id, "cmd%d", i);
        snprintf(g, sizeof g, "g%c", 'A' + i);
        es_job j = make_job(id, "t1", g, t - 10 + i);
        CHECK_INT(s->ops->queue_enqueue(s, &j, 1, t - 10 + i), 0);
    }
    for (int i = 0; i < N; i++) {
        CHECK_INT(s->ops->queue_claim(s, "w1", 1, t, i == STALE ? 100 : 30000, 0, &c[i]), 0);
        claims[i] = &c[i];
    }
    CHECK_STR(c[STALE].group_key, "gD"); /* its lease passes before the finish */
    CHECK_INT(s->ops->fold_put(s, "t1", "totals", "a", "{\"n\":1}", 5, t), 0);
    CHECK_INT(s->ops->fold_put(s, "t1", "totals", "c", "{\"n\":1}", 7, t), 0);
    CHECK_INT(s->ops->fold_put(s, "t1", "totals", "e", "{\"n\":1}", 5, t), 0);
    es_job waiting = make_job("fF0", "t1", "gFF", t); /* an earlier job of F's fold */
    CHECK_INT(s->ops->queue_enqueue(s, &waiting, 1, t), 0);
    es_fold_write w[N];
    es_job made[N] = {fold_job("fA", "gFA", t, &w[0], "a", "{\"n\":1}", 5, 6),
                      fold_job("fB", "gFB", t, &w[1], "b", NULL, 0, 3),
                      fold_job("fC", "gFC", t, &w[2], "c", "{\"n\":1}", 5, 9),
                      fold_job("fD", "gFD", t, &w[3], "d", NULL, 0, 4),
                      fold_job("fE", "gFE", t, &w[4], "e", "{\"n\":0}", 5, 6),
                      fold_job("fF", "gFF", t, &w[5], "f", NULL, 0, 3)};
    /* B's unit made another job before its fold's */
    es_job made_b[2] = {make_job("pB", "t1", "gP", t), made[1]};
    made_b[0].origin_id = NULL;
    const es_job *jobs[N] = {&made[0], made_b, &made[2], &made[3], &made[4], &made[5]};
    size_t n_jobs[N] = {1, 2, 1, 1, 1, 1};
    int status[N];
    long long calls = command_calls("evalsha");
    CHECK_INT(s->ops->queue_finish_many(s, claims, jobs, n_jobs, N, t + 101, status), 0);
    CHECK_INT(command_calls("evalsha") - calls, 1); /* all in one script call */
    /* per claim: stale, or which of its jobs (bit k: the k-th) were dropped */
    const int want[N] = {1, 2, 0, -1, 0, 0};
    for (int i = 0; i < N; i++) CHECK_INT(status[i], want[i]);
    CHECK(stored_is(s, "a", "{\"n\":2}", 6));
    CHECK(stored_is(s, "b", "{\"n\":2}", 3));
    CHECK(stored_is(s, "c", "{\"n\":1}", 7));
    char *none;
    int64_t seq;
    CHECK_INT(stored(s, "d", &none, &seq), 1);
    CHECK(stored_is(s, "e", "{\"n\":1}", 5));
    CHECK_INT(stored(s, "f", &none, &seq), 1);
    /* only the jobs whose state was not written are queued */
    for (int i = 0; i < N; i++) {
        char g[8];
        snprintf(g, sizeof g, "gF%c", 'A' + i);
        CHECK_INT(redis_integer("EXISTS {%s}:g:%s", queue, g), i == 2 || i == 4 || i == 5);
    }
    CHECK_INT(redis_integer("EXISTS {%s}:g:gP", queue), 1);
    /* what is left to claim: fC, fE, fF after fF0, pB, and gD's command
     * (its claim expired) */
    int seen = 0, claimed = 0;
    es_claim next;
    while (s->ops->queue_claim(s, "w2", 10, t + 102, 30000, 0, &next) == 0) {
        for (size_t k = 0; k < next.n; k++, claimed++)
            seen += strcmp(next.jobs[k].id, "fC") == 0 || strcmp(next.jobs[k].id, "fE") == 0 ||
                    strcmp(next.jobs[k].id, "fF") == 0;
        CHECK_INT(s->ops->queue_complete(s, &next, next.n, t + 103), 0);
        store_claim_clear(&next);
    }
    CHECK_INT(seen, 3);
    CHECK_INT(claimed, 6);
    for (int i = 0; i < N; i++) store_claim_clear(&c[i]);
    s->ops->close(s);
}

int main(void)
{
    if (start_test_server() != 0) return 1;
    RUN_TEST(test_finish_many);
    RUN_TEST(test_finish_fold_writes);
    RUN_TEST(test_finish_huge);
    redis_server_stop(&server);
    return TEST_EXIT();
}
