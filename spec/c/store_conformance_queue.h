/* store_conformance_queue.h: the job queue's checks of the conformance
 * suite (store_conformance.h): FIFO batches, leases, retries and parking,
 * id idempotency and dedup modes, origins, stats and item counts. */
#ifndef ES_STORE_CONFORMANCE_QUEUE_H
#define ES_STORE_CONFORMANCE_QUEUE_H

#include "store_conformance_helpers.h"

/* ----------------------------------------------------------- job queue */

static void conformance_queue_fifo_batch(es_store *s)
{
    es_job jobs[4] = {conformance_job("j1", "gA", "p1", CONF_T0),
                      conformance_job("j2", "gA", "p2", CONF_T0),
                      conformance_job("j3", "gA", "p3", CONF_T0),
                      conformance_job("j4", "gB", "p4", CONF_T0)};
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 4, CONF_T0), 0);

    es_claim a, b, c;
    CHECK_INT(conformance_claim(s, 2, CONF_T0, &a), 0);
    CHECK_STR(a.group_key, "gA");
    CHECK_INT(a.n, 2);
    if (a.n == 2) {
        CHECK_STR(a.jobs[0].id, "j1");
        CHECK_STR(a.jobs[1].id, "j2");
        CHECK_STR(a.jobs[0].payload, "p1");
        CHECK_INT(a.jobs[0].payload_len, 2);
        CHECK_INT(a.jobs[0].kind, JOB_FOLD);
        CHECK_STR(a.jobs[0].tenant_id, "t1");
        CHECK_STR(a.jobs[0].origin_id, "cmd-0");
        CHECK(a.jobs[0].position < a.jobs[1].position);
    }
    CHECK(a.lease_until >= CONF_T0 + CONF_LEASE);

    /* gA is held: the next claim gets gB; then nothing */
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &b), 0);
    CHECK_STR(b.group_key, "gB");
    CHECK_INT(b.n, 1);
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &c), 1);

    CHECK_INT(s->ops->queue_complete(s, &a, a.n, CONF_T0 + 1), 0);
    CHECK_INT(s->ops->queue_complete(s, &b, b.n, CONF_T0 + 1), 0);
    int64_t first_pos = a.n ? a.jobs[a.n - 1].position : 0;
    store_claim_clear(&a);
    store_claim_clear(&b);

    CHECK_INT(conformance_claim(s, 10, CONF_T0 + 2, &a), 0);
    CHECK_STR(a.group_key, "gA");
    CHECK_INT(a.n, 1);
    if (a.n == 1) {
        CHECK_STR(a.jobs[0].id, "j3");
        CHECK(a.jobs[0].position > first_pos);
    }
    CHECK_INT(s->ops->queue_complete(s, &a, a.n, CONF_T0 + 3), 0);
    store_claim_clear(&a);
    CHECK_INT(conformance_claim(s, 10, CONF_T0 + 4, &a), 1);
}

static void conformance_queue_partial_complete(es_store *s)
{
    es_job jobs[3] = {conformance_job("j1", "gA", "p1", CONF_T0),
                      conformance_job("j2", "gA", "p2", CONF_T0),
                      conformance_job("j3", "gA", "p3", CONF_T0)};
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 3, CONF_T0), 0);
    es_claim a;
    CHECK_INT(conformance_claim(s, 3, CONF_T0, &a), 0);
    CHECK_INT(a.n, 3);
    /* only the first is done: the rest stay at the head, in order */
    CHECK_INT(s->ops->queue_complete(s, &a, 1, CONF_T0 + 1), 0);
    store_claim_clear(&a);
    CHECK_INT(conformance_claim(s, 3, CONF_T0 + 2, &a), 0);
    CHECK_INT(a.n, 2);
    if (a.n == 2) {
        CHECK_STR(a.jobs[0].id, "j2");
        CHECK_STR(a.jobs[1].id, "j3");
    }
    store_claim_clear(&a);
}

static void conformance_queue_run_at(es_store *s)
{
    es_job jobs[3] = {conformance_job("j1", "gA", "p1", CONF_T0 + 1000),
                      conformance_job("j2", "gB", "p2", CONF_T0),
                      conformance_job("j3", "gB", "p3", CONF_T0 + 500)};
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 3, CONF_T0), 0);
    es_claim a;
    /* gB's head is ready, its second job is not: the batch stops there */
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &a), 0);
    CHECK_STR(a.group_key, "gB");
    CHECK_INT(a.n, 1);
    CHECK_INT(s->ops->queue_complete(s, &a, a.n, CONF_T0), 0);
    store_claim_clear(&a);

    CHECK_INT(conformance_claim(s, 10, CONF_T0 + 499, &a), 1);
    CHECK_INT(conformance_claim(s, 10, CONF_T0 + 500, &a), 0);
    CHECK_STR(a.group_key, "gB");
    if (a.n) CHECK_STR(a.jobs[0].id, "j3");
    CHECK_INT(s->ops->queue_complete(s, &a, a.n, CONF_T0 + 500), 0);
    store_claim_clear(&a);

    CHECK_INT(conformance_claim(s, 10, CONF_T0 + 999, &a), 1);
    CHECK_INT(conformance_claim(s, 10, CONF_T0 + 1000, &a), 0);
    CHECK_STR(a.group_key, "gA");
    store_claim_clear(&a);
}

static void conformance_queue_round_robin(es_store *s)
{
    es_job jobs[3] = {conformance_job("j1", "gA", "p1", CONF_T0),
                      conformance_job("j2", "gA", "p2", CONF_T0),
                      conformance_job("j3", "gB", "p3", CONF_T0 + 1)};
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 3, CONF_T0), 0);
    es_claim a;
    CHECK_INT(conformance_claim(s, 1, CONF_T0 + 10, &a), 0);
    CHECK_STR(a.group_key, "gA");
    CHECK_INT(s->ops->queue_complete(s, &a, a.n, CONF_T0 + 10), 0);
    store_claim_clear(&a);
    /* gA still has work but went to the back: gB (waiting since T0+1) first */
    CHECK_INT(conformance_claim(s, 1, CONF_T0 + 11, &a), 0);
    CHECK_STR(a.group_key, "gB");
    CHECK_INT(s->ops->queue_complete(s, &a, a.n, CONF_T0 + 11), 0);
    store_claim_clear(&a);
    CHECK_INT(conformance_claim(s, 1, CONF_T0 + 12, &a), 0);
    CHECK_STR(a.group_key, "gA");
    store_claim_clear(&a);
}

static void conformance_queue_lease(es_store *s)
{
    CHECK_INT(conformance_enqueue1(s, conformance_job("j1", "gA", "p1", CONF_T0), CONF_T0), 0);
    CHECK_INT(conformance_enqueue1(s, conformance_job("j2", "gA", "p2", CONF_T0), CONF_T0), 0);
    es_claim old, cur, none;
    CHECK_INT(conformance_claim(s, 1, CONF_T0, &old), 0);
    CHECK_INT(conformance_claim(s, 1, CONF_T0 + CONF_LEASE - 1, &none), 1);

    /* the heartbeat moves the lease */
    CHECK_INT(s->ops->queue_extend(s, &old, CONF_T0 + 1000, CONF_LEASE), 0);
    CHECK_INT(conformance_claim(s, 1, CONF_T0 + CONF_LEASE + 500, &none), 1);

    /* past the lease the group is claimable again, with a newer token */
    int64_t expired = CONF_T0 + 1000 + CONF_LEASE + 1;
    CHECK_INT(conformance_claim(s, 1, expired, &cur), 0);
    CHECK_STR(cur.group_key, "gA");
    CHECK(cur.token > old.token);
    if (cur.n) CHECK_STR(cur.jobs[0].id, "j1");

    /* the old claimant is fenced off */
    diag_clear();
    CHECK_INT(s->ops->queue_complete(s, &old, 1, expired + 1), -1);
    CHECK_INT(diag_code_get(), DIAG_CONFLICT);
    diag_clear();
    CHECK_INT(s->ops->queue_fail(s, &old, 0, "late", expired + 1, 10, expired + 1), -1);
    CHECK_INT(diag_code_get(), DIAG_CONFLICT);
    diag_clear();
    CHECK_INT(s->ops->queue_extend(s, &old, expired + 1, CONF_LEASE), -1);
    CHECK_INT(diag_code_get(), DIAG_CONFLICT);

    /* the stale complete changed nothing: the current claim completes j1 */
    CHECK_INT(s->ops->queue_complete(s, &cur, 1, expired + 2), 0);
    store_claim_clear(&cur);
    CHECK_INT(conformance_claim(s, 5, expired + 3, &cur), 0);
    CHECK_INT(cur.n, 1);
    if (cur.n) CHECK_STR(cur.jobs[0].id, "j2");
    /* a completed claim's token is stale too */
    CHECK_INT(s->ops->queue_complete(s, &cur, 1, expired + 4), 0);
    diag_clear();
    CHECK_INT(s->ops->queue_complete(s, &cur, 1, expired + 5), -1);
    CHECK_INT(diag_code_get(), DIAG_CONFLICT);
    store_claim_clear(&cur);
    store_claim_clear(&old);
}

static void conformance_queue_fail_retry(es_store *s)
{
    es_job jobs[3] = {conformance_job("j1", "gA", "p1", CONF_T0),
                      conformance_job("j2", "gA", "p2", CONF_T0),
                      conformance_job("j3", "gA", "p3", CONF_T0)};
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 3, CONF_T0), 0);
    es_claim a;
    CHECK_INT(conformance_claim(s, 3, CONF_T0, &a), 0);
    CHECK_INT(a.n, 3);
    /* j1 done, j2 failed: j2 stays the head until retry_at, j3 waits */
    CHECK_INT(s->ops->queue_fail(s, &a, 1, "boom", CONF_T0 + 100, 10, CONF_T0 + 1), 0);
    store_claim_clear(&a);
    CHECK_INT(conformance_claim(s, 3, CONF_T0 + 99, &a), 1);
    CHECK_INT(conformance_claim(s, 3, CONF_T0 + 100, &a), 0);
    CHECK_INT(a.n, 2);
    if (a.n == 2) {
        CHECK_STR(a.jobs[0].id, "j2");
        CHECK_INT(a.jobs[0].attempts, 1);
        CHECK_STR(a.jobs[0].last_error, "boom");
        CHECK_STR(a.jobs[1].id, "j3");
        CHECK_INT(a.jobs[1].attempts, 0);
    }
    CHECK_INT(s->ops->queue_complete(s, &a, a.n, CONF_T0 + 101), 0);
    store_claim_clear(&a);
    CHECK_INT(conformance_claim(s, 3, CONF_T0 + 102, &a), 1);
}

/* The optional group-idle read (worker's inline projections): -1 when the
 * store has none. */
static int conformance_group_idle(es_store *s, const char *group)
{
    return s->ops->queue_group_idle ? s->ops->queue_group_idle(s, group) : -1;
}

static void conformance_queue_parking(es_store *s)
{
    es_job jobs[3] = {conformance_job("j1", "gA", "p1", CONF_T0),
                      conformance_job("j2", "gA", "p2", CONF_T0),
                      conformance_job("j3", "gA", "p3", CONF_T0)};
    int has_idle = s->ops->queue_group_idle != NULL;
    if (has_idle) CHECK_INT(conformance_group_idle(s, "gA"), 1);
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 3, CONF_T0), 0);
    if (has_idle) CHECK_INT(conformance_group_idle(s, "gA"), 0);
    es_claim a;
    int64_t t = CONF_T0;
    for (int attempt = 1; attempt <= 2; attempt++) {
        CHECK_INT(conformance_claim(s, 1, t, &a), 0);
        CHECK_INT(s->ops->queue_fail(s, &a, 0, "bad input", t + 10, 2, t), 0);
        store_claim_clear(&a);
        t += 10;
    }
    /* parked: nothing runs, however late */
    CHECK_INT(conformance_claim(s, 3, t + 1000000, &a), 1);
    if (has_idle) CHECK_INT(conformance_group_idle(s, "gA"), 0);

    conformance_parked p;
    memset(&p, 0, sizeof p);
    CHECK_INT(s->ops->queue_parked_list(s, NULL, conformance_collect_parked, &p), 0);
    CHECK_INT(p.n, 1);
    CHECK_STR(p.group, "gA");
    CHECK_STR(p.tenant, "t1");
    CHECK_STR(p.head_id, "j1");
    CHECK_STR(p.error, "bad input");
    CHECK_INT(p.attempts, 2);
    CHECK_INT(p.waiting, 3);
    memset(&p, 0, sizeof p);
    CHECK_INT(s->ops->queue_parked_list(s, "t2", conformance_collect_parked, &p), 0);
    CHECK_INT(p.n, 0);

    CHECK_INT(s->ops->queue_parked_retry(s, "nope", t), 1);
    CHECK_INT(s->ops->queue_parked_skip(s, "nope", t), 1);

    /* retry: the head runs again now, attempts reset */
    CHECK_INT(s->ops->queue_parked_retry(s, "gA", t), 0);
    CHECK_INT(conformance_claim(s, 1, t, &a), 0);
    if (a.n) {
        CHECK_STR(a.jobs[0].id, "j1");
        CHECK_INT(a.jobs[0].attempts, 0);
    }
    CHECK_INT(s->ops->queue_fail(s, &a, 0, "again", t, 1, t), 0);
    store_claim_clear(&a);
    CHECK_INT(conformance_claim(s, 3, t + 1000000, &a), 1);

    /* skip: the head goes to the dead letters, the rest run in order */
    CHECK_INT(s->ops->queue_parked_skip(s, "gA", t), 0);
    memset(&p, 0, sizeof p);
    CHECK_INT(s->ops->queue_parked_list(s, NULL, conformance_collect_parked, &p), 0);
    CHECK_INT(p.n, 0);
    CHECK_INT(conformance_claim(s, 3, t, &a), 0);
    CHECK_INT(a.n, 2);
    if (a.n == 2) {
        CHECK_STR(a.jobs[0].id, "j2");
        CHECK_STR(a.jobs[1].id, "j3");
    }
    /* in flight: still not idle; once done, idle */
    if (has_idle) CHECK_INT(conformance_group_idle(s, "gA"), 0);
    CHECK_INT(s->ops->queue_complete(s, &a, a.n, t), 0);
    if (has_idle) CHECK_INT(conformance_group_idle(s, "gA"), 1);
    store_claim_clear(&a);
}

static void conformance_queue_id_idempotency(es_store *s)
{
    CHECK_INT(conformance_enqueue1(s, conformance_job("j1", "gA", "p1", CONF_T0), CONF_T0), 0);
    CHECK_INT(conformance_enqueue1(s, conformance_job("j1", "gA", "p1", CONF_T0), CONF_T0), 0);
    es_job twice[2] = {conformance_job("j2", "gA", "p2", CONF_T0),
                       conformance_job("j2", "gA", "p2", CONF_T0)};
    CHECK_INT(s->ops->queue_enqueue(s, twice, 2, CONF_T0), 0);
    es_claim a;
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &a), 0);
    CHECK_INT(a.n, 2);
    /* in flight: the same id is still one job */
    CHECK_INT(conformance_enqueue1(s, conformance_job("j1", "gA", "p1", CONF_T0), CONF_T0), 0);
    CHECK_INT(s->ops->queue_complete(s, &a, a.n, CONF_T0 + 1), 0);
    store_claim_clear(&a);
    CHECK_INT(conformance_claim(s, 10, CONF_T0 + 2, &a), 1);
}

static void conformance_queue_debounce(es_store *s)
{
    es_job j = conformance_job("r1", "gR", "first", CONF_T0 + 100);
    j.kind = JOB_REACTOR;
    j.dedup_id = (char *)"react-a1";
    j.dedup_mode = DEDUP_DEBOUNCE;
    CHECK_INT(conformance_enqueue1(s, j, CONF_T0), 0);
    /* a second one while pending replaces payload and restarts the timer */
    j.id = (char *)"r2";
    j.payload = (char *)"second";
    j.payload_len = 6;
    j.run_at = CONF_T0 + 200;
    CHECK_INT(conformance_enqueue1(s, j, CONF_T0 + 50), 0);

    es_claim a;
    CHECK_INT(conformance_claim(s, 10, CONF_T0 + 150, &a), 1);
    CHECK_INT(conformance_claim(s, 10, CONF_T0 + 200, &a), 0);
    CHECK_INT(a.n, 1);
    if (a.n) CHECK_STR(a.jobs[0].payload, "second");

    /* while it is in flight, a new one is queued as its successor */
    j.id = (char *)"r3";
    j.payload = (char *)"third";
    j.payload_len = 5;
    j.run_at = CONF_T0 + 300;
    CHECK_INT(conformance_enqueue1(s, j, CONF_T0 + 210), 0);
    CHECK_INT(s->ops->queue_complete(s, &a, a.n, CONF_T0 + 220), 0);
    store_claim_clear(&a);
    CHECK_INT(conformance_claim(s, 10, CONF_T0 + 299, &a), 1);
    CHECK_INT(conformance_claim(s, 10, CONF_T0 + 300, &a), 0);
    CHECK_INT(a.n, 1);
    if (a.n) CHECK_STR(a.jobs[0].payload, "third");
    CHECK_INT(s->ops->queue_complete(s, &a, a.n, CONF_T0 + 301), 0);
    store_claim_clear(&a);
    CHECK_INT(conformance_claim(s, 10, CONF_T0 + 100000, &a), 1);
}

static void conformance_queue_throttle(es_store *s)
{
    es_job j = conformance_job("r1", "gR", "first", CONF_T0);
    j.kind = JOB_REACTOR;
    j.dedup_id = (char *)"react-a1";
    j.dedup_mode = DEDUP_THROTTLE;
    CHECK_INT(conformance_enqueue1(s, j, CONF_T0), 0);
    j.id = (char *)"r2";
    j.payload = (char *)"second";
    j.payload_len = 6;
    CHECK_INT(conformance_enqueue1(s, j, CONF_T0), 0); /* dropped: pending */

    es_claim a, none;
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &a), 0);
    CHECK_INT(a.n, 1);
    if (a.n) CHECK_STR(a.jobs[0].payload, "first");
    j.id = (char *)"r3";
    CHECK_INT(conformance_enqueue1(s, j, CONF_T0 + 1), 0); /* dropped: in flight */
    CHECK_INT(s->ops->queue_complete(s, &a, a.n, CONF_T0 + 2), 0);
    store_claim_clear(&a);
    CHECK_INT(conformance_claim(s, 10, CONF_T0 + 3, &none), 1);

    /* after it ran, the next one is accepted */
    j.id = (char *)"r4";
    j.payload = (char *)"fourth";
    j.payload_len = 6;
    CHECK_INT(conformance_enqueue1(s, j, CONF_T0 + 4), 0);
    CHECK_INT(conformance_claim(s, 10, CONF_T0 + 4, &a), 0);
    if (a.n) CHECK_STR(a.jobs[0].payload, "fourth");
    store_claim_clear(&a);
}

/* Jobs count for the origin they carry; a job with none (nobody waits on
 * it) counts for no one, not even under its own id. */
static void conformance_queue_origin(es_store *s)
{
    es_job jobs[5] = {conformance_job("j1", "gA", "p", CONF_T0),
                      conformance_job("j2", "gB", "p", CONF_T0 + 5000),
                      conformance_job("j3", "gC", "p", CONF_T0),
                      conformance_job("j4", "gD", "p", CONF_T0),
                      conformance_job("j5", "gE", "p", CONF_T0 + 5000)};
    jobs[2].kind = JOB_MAP;
    jobs[3].origin_id = (char *)"cmd-other";
    jobs[4].kind = JOB_COMMAND;
    jobs[4].origin_id = NULL;
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 5, CONF_T0), 0);
    unsigned folds = 1u << JOB_FOLD, maps = 1u << JOB_MAP;
    int64_t n = -1;
    CHECK_INT(s->ops->queue_origin_pending(s, "cmd-0", folds | maps, &n), 0);
    CHECK_INT(n, 3);
    CHECK_INT(s->ops->queue_origin_pending(s, "cmd-0", maps, &n), 0);
    CHECK_INT(n, 1);
    CHECK_INT(s->ops->queue_origin_pending(s, "cmd-none", folds | maps, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(s->ops->queue_origin_pending(s, "j5", 1u << JOB_COMMAND, &n), 0);
    CHECK_INT(n, 0);

    /* in flight still counts; completed does not */
    es_claim a;
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &a), 0);
    CHECK_INT(s->ops->queue_origin_pending(s, "cmd-0", folds | maps, &n), 0);
    CHECK_INT(n, 3);
    CHECK_INT(s->ops->queue_complete(s, &a, a.n, CONF_T0), 0);
    store_claim_clear(&a);
    CHECK_INT(s->ops->queue_origin_pending(s, "cmd-0", folds | maps, &n), 0);
    CHECK_INT(n, 2);
}

typedef struct conformance_stats {
    int rows;
    es_queue_stats fold, map;
} conformance_stats;

static int conformance_collect_stats(void *ud, const es_queue_stats *row)
{
    conformance_stats *c = ud;
    c->rows++;
    if (strcmp(row->pipeline, "pipe") != 0) return 0;
    if (row->kind == JOB_FOLD && strcmp(row->component, "fold1") == 0) c->fold = *row;
    if (row->kind == JOB_MAP && strcmp(row->component, "map1") == 0) c->map = *row;
    c->fold.pipeline = c->fold.component = c->map.pipeline = c->map.component = NULL;
    return 0;
}

/* A parked job of several items failed on one of them: skip drops that
 * item only (the head keeps the skip payload queue_fail was given, with
 * fresh attempts), and the jobs behind it still wait their turn. */
static void conformance_queue_skip_item(es_store *s)
{
    int64_t t = CONF_T0;
    es_job jobs[2] = {conformance_job("j1", "gS", "p", t), conformance_job("j2", "gS", "p", t)};
    jobs[0].payload = (char *)"abc";
    jobs[0].payload_len = 3;
    jobs[0].items = 3;
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 2, t), 0);
    es_claim a;
    CHECK_INT(conformance_claim(s, 1, t, &a), 0);
    CHECK_INT(a.n, 1);
    if (a.n != 1) return;
    a.jobs[0].skip_payload = strdup("bc"); /* item "a" failed */
    a.jobs[0].skip_payload_len = 2;
    CHECK_INT(s->ops->queue_fail(s, &a, 0, "bad item a", t, 1, t), 0);
    store_claim_clear(&a);

    CHECK_INT(s->ops->queue_parked_skip(s, "gS", t), 0);
    CHECK_INT(conformance_claim(s, 5, t, &a), 0);
    CHECK_INT(a.n, 2);
    if (a.n == 2) {
        CHECK_STR(a.jobs[0].id, "j1");
        CHECK_STR(a.jobs[0].payload, "bc");
        CHECK_INT(a.jobs[0].attempts, 0);
        CHECK_STR(a.jobs[1].id, "j2");
    }
    if (s->ops->counts_items) {
        conformance_stats st;
        memset(&st, 0, sizeof st);
        CHECK_INT(s->ops->queue_stats(s, t, conformance_collect_stats, &st), 0);
        CHECK_INT(st.fold.in_flight, 2 + 1);
    }
    CHECK_INT(s->ops->queue_complete(s, &a, a.n, t), 0);
    store_claim_clear(&a);
}

/* The stats scenario: fold jobs j1, j2 (group gA) in flight in claim *a,
 * j4, j5 (gC) parked, j3 (gB) not due, map job j6 (gM) pending. items[i]
 * is the item count of the i-th of j1, j2, j4, j5, j6, j3. */
static void conformance_stats_scenario(es_store *s, const int items[6], es_claim *a)
{
    /* distinct run_at values make the claim order unambiguous */
    es_job jobs[6] = {conformance_job("j1", "gA", "p", CONF_T0 - 3),
                      conformance_job("j2", "gA", "p", CONF_T0 - 3),
                      conformance_job("j4", "gC", "p", CONF_T0 - 2),
                      conformance_job("j5", "gC", "p", CONF_T0 - 2),
                      conformance_job("j6", "gM", "p", CONF_T0 - 1),
                      conformance_job("j3", "gB", "p", CONF_T0 + 9000)};
    for (int i = 0; i < 6; i++) jobs[i].items = items[i];
    jobs[4].kind = JOB_MAP;
    jobs[4].component = (char *)"map1";
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 6, CONF_T0), 0);

    es_claim c;
    CHECK_INT(conformance_claim(s, 10, CONF_T0, a), 0); /* gA: j1, j2 in flight */
    CHECK_STR(a->group_key, "gA");
    CHECK_INT(conformance_claim(s, 10, CONF_T0, &c), 0); /* gC: parked */
    CHECK_STR(c.group_key, "gC");
    CHECK_INT(s->ops->queue_fail(s, &c, 0, "x", CONF_T0, 1, CONF_T0), 0);
    store_claim_clear(&c);
}

static void conformance_queue_stats(es_store *s)
{
    static const int one_each[6] = {1, 1, 1, 1, 1, 1};
    es_claim a;
    conformance_stats_scenario(s, one_each, &a);
    conformance_stats st;
    memset(&st, 0, sizeof st);
    CHECK_INT(s->ops->queue_stats(s, CONF_T0, conformance_collect_stats, &st), 0);
    CHECK(st.rows >= 2);
    CHECK_INT(st.fold.kind, JOB_FOLD);
    CHECK_INT(st.fold.in_flight, 2);
    CHECK_INT(st.fold.pending, 0);
    CHECK_INT(st.fold.delayed, 1);
    CHECK_INT(st.fold.parked, 2);
    CHECK_INT(st.fold.parked_groups, 1);
    CHECK_INT(st.map.kind, JOB_MAP);
    CHECK_INT(st.map.pending, 1);
    CHECK_INT(st.map.in_flight, 0);
    CHECK_INT(st.map.oldest_pending_at, CONF_T0);
    store_claim_clear(&a);
}

/* Stores that count items (counts_items): the stats of the scenario above
 * with jobs holding several items count items, through complete and skip. */
static void conformance_queue_items(es_store *s)
{
    static const int items[6] = {3, 2, 4, 1, 6, 7};
    es_claim a;
    conformance_stats_scenario(s, items, &a); /* 5 items in flight, 5 parked */
    conformance_stats st;
    memset(&st, 0, sizeof st);
    CHECK_INT(s->ops->queue_stats(s, CONF_T0, conformance_collect_stats, &st), 0);
    CHECK_INT(st.fold.in_flight, 5);
    CHECK_INT(st.fold.delayed, 7);
    CHECK_INT(st.fold.parked, 5);
    CHECK_INT(st.map.pending, 6);

    CHECK_INT(s->ops->queue_complete(s, &a, a.n, CONF_T0), 0);
    store_claim_clear(&a);
    CHECK_INT(s->ops->queue_parked_skip(s, "gC", CONF_T0), 0); /* j4: 4 items */
    memset(&st, 0, sizeof st);
    CHECK_INT(s->ops->queue_stats(s, CONF_T0, conformance_collect_stats, &st), 0);
    CHECK_INT(st.fold.in_flight, 0);
    CHECK_INT(st.fold.parked, 0);
    CHECK_INT(st.fold.pending + st.fold.delayed, 1 + 7);
}

#endif
