/* store_conformance.h: one header-only conformance suite for every es_store
 * backend (store.h). A test calls conformance_run with a function returning a
 * brand-new empty store; each group of checks runs against its own store and
 * is skipped ("skip: <kind>") when the backend lacks that kind (NULL ops).
 * Time is passed explicitly (`now`), never slept on. */
#ifndef ES_STORE_CONFORMANCE_H
#define ES_STORE_CONFORMANCE_H

#include "store_conformance_helpers.h"
#include "store_conformance_queue.h"

/* ----------------------------------------------------------- event log */

static void conformance_events_seq(es_store *s)
{
    es_event evs[3] = {conformance_event("t1", "a1", "e1", NULL),
                       conformance_event("t1", "a1", "e2", NULL),
                       conformance_event("t1", "a2", "e3", NULL)};
    append_outcome out[3] = {0};
    CHECK_INT(s->ops->event_append(s, evs, 3, CONF_T0, out), 0);
    CHECK_INT(out[0], APPEND_NEW);
    CHECK_INT(out[1], APPEND_NEW);
    CHECK_INT(out[2], APPEND_NEW);
    CHECK_INT(evs[0].seq, 1);
    CHECK_INT(evs[1].seq, 2);
    CHECK_INT(evs[2].seq, 1);
    CHECK_INT(evs[0].created_at, CONF_T0);

    es_event more = conformance_event("t1", "a1", "e4", NULL);
    append_outcome o = 0;
    CHECK_INT(s->ops->event_append(s, &more, 1, CONF_T0 + 1, &o), 0);
    CHECK_INT(o, APPEND_NEW);
    CHECK_INT(more.seq, 3);

    conformance_events c = conformance_read(s, "t1", "a1", 0, 0);
    CHECK_INT(c.n, 3);
    CHECK_INT(c.seqs[0], 1);
    CHECK_INT(c.seqs[1], 2);
    CHECK_INT(c.seqs[2], 3);
    CHECK_STR(c.ids[0], "e1");
    CHECK_STR(c.ids[2], "e4");
    CHECK_STR(c.data[0], "{\"n\":1}");
    /* an event appended without a key of its own reads back its id as key */
    CHECK_STR(c.ikeys[0], "e1");

    /* the optional last-seq read: per aggregate and tenant, 0 when none */
    if (s->ops->event_last_seq) {
        int64_t last = -1;
        CHECK_INT(s->ops->event_last_seq(s, "t1", evs[0].aggregate_type, "a1", &last), 0);
        CHECK_INT(last, 3);
        CHECK_INT(s->ops->event_last_seq(s, "t1", evs[0].aggregate_type, "a2", &last), 0);
        CHECK_INT(last, 1);
        CHECK_INT(s->ops->event_last_seq(s, "t2", evs[0].aggregate_type, "a1", &last), 0);
        CHECK_INT(last, 0);
    }
}

static void conformance_events_idempotency(es_store *s)
{
    es_event a = conformance_event("t1", "a1", "e1", "k1");
    append_outcome o = 0;
    CHECK_INT(s->ops->event_append(s, &a, 1, CONF_T0, &o), 0);
    CHECK_INT(o, APPEND_NEW);

    /* another id, same idempotency key: not stored */
    es_event dup = conformance_event("t1", "a1", "e2", "k1");
    CHECK_INT(s->ops->event_append(s, &dup, 1, CONF_T0 + 10, &o), 0);
    CHECK_INT(o, APPEND_DUPLICATE);

    /* the same id again (a retried command): seq and created_at filled */
    es_event retry = conformance_event("t1", "a1", "e1", "k1");
    CHECK_INT(s->ops->event_append(s, &retry, 1, CONF_T0 + 20, &o), 0);
    CHECK_INT(o, APPEND_RETRY);
    CHECK_INT(retry.seq, 1);
    CHECK_INT(retry.created_at, CONF_T0);

    /* the same key on another aggregate is a different event */
    es_event other = conformance_event("t1", "a2", "e3", "k1");
    CHECK_INT(s->ops->event_append(s, &other, 1, CONF_T0, &o), 0);
    CHECK_INT(o, APPEND_NEW);
    CHECK_INT(other.seq, 1);

    /* a mixed batch: new events after a duplicate still get consecutive seqs */
    es_event batch[2] = {conformance_event("t1", "a1", "e4", "k1"),
                         conformance_event("t1", "a1", "e5", "k5")};
    append_outcome outs[2] = {0};
    CHECK_INT(s->ops->event_append(s, batch, 2, CONF_T0, outs), 0);
    CHECK_INT(outs[0], APPEND_DUPLICATE);
    CHECK_INT(outs[1], APPEND_NEW);
    CHECK_INT(batch[1].seq, 2);

    conformance_events c = conformance_read(s, "t1", "a1", 0, 0);
    CHECK_INT(c.n, 2);
    CHECK_STR(c.ikeys[0], "k1");
    CHECK_STR(c.ikeys[1], "k5");
}

static void conformance_events_read(es_store *s)
{
    es_event evs[4] = {conformance_event("t1", "a1", "e1", NULL),
                       conformance_event("t1", "a1", "e2", NULL),
                       conformance_event("t1", "a1", "e3", NULL),
                       conformance_event("t2", "a1", "x1", NULL)};
    append_outcome out[4] = {0};
    CHECK_INT(s->ops->event_append(s, evs, 4, CONF_T0, out), 0);
    /* tenants do not share an aggregate's seq */
    CHECK_INT(evs[3].seq, 1);

    conformance_events c = conformance_read(s, "t1", "a1", 1, 0);
    CHECK_INT(c.n, 2);
    CHECK_INT(c.seqs[0], 2);
    CHECK_INT(c.seqs[1], 3);

    c = conformance_read(s, "t1", "a1", 0, 2);
    CHECK_INT(c.n, 2);
    CHECK_INT(c.seqs[1], 2);

    c = conformance_read(s, "t2", "a1", 0, 0);
    CHECK_INT(c.n, 1);
    CHECK_STR(c.ids[0], "x1");
    CHECK_STR(c.tenants[0], "t2");

    c = conformance_read(s, "t3", "a1", 0, 0);
    CHECK_INT(c.n, 0);
    c = conformance_read(s, "t1", "nope", 0, 0);
    CHECK_INT(c.n, 0);
}

/* ----------------------------------------------------------- fold store */

static void conformance_folds(es_store *s)
{
    char *state = NULL;
    int64_t last = -1;
    CHECK_INT(s->ops->fold_get(s, "t1", "summaries", "a1", &state, &last), 1);
    CHECK_INT(s->ops->fold_put(s, "t1", "summaries", "a1", "{\"count\":1}", 1, CONF_T0), 0);
    CHECK_INT(s->ops->fold_get(s, "t1", "summaries", "a1", &state, &last), 0);
    CHECK_STR(state, "{\"count\":1}");
    CHECK_INT(last, 1);
    free(state);
    state = NULL;

    CHECK_INT(s->ops->fold_put(s, "t1", "summaries", "a1", "{\"count\":3}", 3, CONF_T0 + 1), 0);
    CHECK_INT(s->ops->fold_get(s, "t1", "summaries", "a1", &state, &last), 0);
    CHECK_STR(state, "{\"count\":3}");
    CHECK_INT(last, 3);
    free(state);
    state = NULL;

    /* tenant, table and key all scope the state */
    CHECK_INT(s->ops->fold_get(s, "t2", "summaries", "a1", &state, &last), 1);
    CHECK_INT(s->ops->fold_get(s, "t1", "other", "a1", &state, &last), 1);
    CHECK_INT(s->ops->fold_get(s, "t1", "summaries", "a2", &state, &last), 1);
    CHECK_INT(s->ops->fold_put(s, "t2", "summaries", "a1", "{\"count\":9}", 9, CONF_T0), 0);
    CHECK_INT(s->ops->fold_get(s, "t1", "summaries", "a1", &state, &last), 0);
    CHECK_STR(state, "{\"count\":3}");
    free(state);
}

/* ----------------------------------------------------------- record store */

typedef struct conformance_records {
    int n;
    char ids[8][16];
    char json[8][32];
    char agg[8][16];
} conformance_records;

static int conformance_collect_record(void *ud, const char *record_id,
                                      const char *aggregate_id, const char *record_json,
                                      int64_t created_at)
{
    conformance_records *r = ud;
    (void)created_at;
    if (r->n < 8) {
        snprintf(r->ids[r->n], sizeof r->ids[0], "%s", record_id);
        snprintf(r->json[r->n], sizeof r->json[0], "%s", record_json);
        snprintf(r->agg[r->n], sizeof r->agg[0], "%s", aggregate_id);
    }
    r->n++;
    return 0;
}

static void conformance_records_append(es_store *s)
{
    CHECK_INT(s->ops->record_append(s, "t1", "spans", "r1", "a1", "{\"v\":1}", CONF_T0), 0);
    CHECK_INT(s->ops->record_append(s, "t1", "spans", "r2", "a1", "{\"v\":2}", CONF_T0 + 1), 0);
    CHECK_INT(s->ops->record_append(s, "t1", "spans", "r1", "a1", "{\"v\":99}", CONF_T0 + 2), 0);
    CHECK_INT(s->ops->record_append(s, "t1", "other", "r1", "a1", "{\"v\":3}", CONF_T0), 0);
    CHECK_INT(s->ops->record_append(s, "t2", "spans", "r9", "b1", "{\"v\":4}", CONF_T0), 0);

    conformance_records r;
    memset(&r, 0, sizeof r);
    CHECK_INT(s->ops->record_list(s, "t1", "spans", 0, conformance_collect_record, &r), 0);
    CHECK_INT(r.n, 2);
    CHECK_STR(r.ids[0], "r1");
    CHECK_STR(r.json[0], "{\"v\":1}");
    CHECK_STR(r.agg[0], "a1");
    CHECK_STR(r.ids[1], "r2");

    memset(&r, 0, sizeof r);
    CHECK_INT(s->ops->record_list(s, "t1", "spans", 1, conformance_collect_record, &r), 0);
    CHECK_INT(r.n, 1);

    memset(&r, 0, sizeof r);
    CHECK_INT(s->ops->record_list(s, "t2", "spans", 0, conformance_collect_record, &r), 0);
    CHECK_INT(r.n, 1);
    CHECK_STR(r.ids[0], "r9");

    memset(&r, 0, sizeof r);
    CHECK_INT(s->ops->record_list(s, "t3", "spans", 0, conformance_collect_record, &r), 0);
    CHECK_INT(r.n, 0);
}

/* ----------------------------------------------------------- kill switch */

/* A job of tenant `tenant` in the pipeline group (tenant, "pipe", component,
 * key); the group key is malloc'd into *key_out (caller frees). */
static es_job conformance_scoped_job(const char *id, const char *tenant,
                                     const char *component, const char *key,
                                     char **key_out)
{
    *key_out = job_group_key(tenant, "pipe", component, key);
    es_job j = conformance_job(id, *key_out, id, CONF_T0);
    j.tenant_id = (char *)tenant;
    j.component = (char *)component;
    return j;
}

typedef struct conformance_pauses {
    int n;
    char tenant[4][16], component[4][16];
    pause_mode mode[4];
} conformance_pauses;

static int conformance_collect_pause(void *ud, const es_pause *p)
{
    conformance_pauses *c = ud;
    if (c->n < 4) {
        snprintf(c->tenant[c->n], sizeof c->tenant[0], "%s", p->tenant_id ? p->tenant_id : "*");
        snprintf(c->component[c->n], sizeof c->component[0], "%s",
                 p->component ? p->component : "*");
        c->mode[c->n] = p->mode;
    }
    c->n++;
    return 0;
}

/* Claims and completes every ready group; returns how many jobs ran and
 * copies the group keys claimed (first 8) into `groups`. */
static int conformance_drain(es_store *s, int64_t now, char groups[8][64])
{
    int jobs = 0, n_groups = 0;
    es_claim c;
    while (conformance_claim(s, 10, now, &c) == 0) {
        if (n_groups < 8) snprintf(groups[n_groups++], 64, "%s", c.group_key);
        jobs += (int)c.n;
        CHECK_INT(s->ops->queue_complete(s, &c, c.n, now), 0);
        store_claim_clear(&c);
    }
    return jobs;
}

static void conformance_pause_hold_resume(es_store *s)
{
    char *keys[5];
    es_job jobs[4] = {conformance_scoped_job("j1", "t1", "fold1", "a", &keys[0]),
                      conformance_scoped_job("j2", "t2", "fold1", "b", &keys[1]),
                      conformance_scoped_job("j3", "t1", "fold2", "c", &keys[2]),
                      conformance_scoped_job("j4", "t1", "fold1", "a", &keys[3])};
    CHECK_INT(s->ops->pause_set(s, "t1", "pipe", "fold1", PAUSE_HOLD, CONF_T0), 0);
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 4, CONF_T0), 0);

    pause_mode mode;
    CHECK_INT(s->ops->pause_check(s, "t1", "pipe", "fold1", &mode), 0);
    CHECK_INT(mode, PAUSE_HOLD);
    CHECK_INT(s->ops->pause_check(s, "t2", "pipe", "fold1", &mode), 0);
    CHECK_INT(mode, PAUSE_NONE);
    CHECK_INT(s->ops->pause_check(s, "t1", "pipe", NULL, &mode), 0);
    CHECK_INT(mode, PAUSE_HOLD);
    CHECK_INT(s->ops->pause_check(s, "t1", "other", NULL, &mode), 0);
    CHECK_INT(mode, PAUSE_NONE);

    /* the paused group of t1/fold1 is skipped; the others run */
    char groups[8][64];
    CHECK_INT(conformance_drain(s, CONF_T0 + 1, groups), 2);
    /* new work for the paused group waits too */
    es_job more = conformance_scoped_job("j5", "t1", "fold1", "a", &keys[4]);
    CHECK_INT(conformance_enqueue1(s, more, CONF_T0 + 2), 0);
    CHECK_INT(conformance_drain(s, CONF_T0 + 3, groups), 0);

    conformance_pauses list;
    memset(&list, 0, sizeof list);
    CHECK_INT(s->ops->pause_list(s, conformance_collect_pause, &list), 0);
    CHECK_INT(list.n, 1);
    CHECK_STR(list.tenant[0], "t1");
    CHECK_STR(list.component[0], "fold1");

    /* resume: the held group runs its jobs in order */
    CHECK_INT(s->ops->pause_set(s, "t1", "pipe", "fold1", PAUSE_NONE, CONF_T0 + 4), 0);
    CHECK_INT(s->ops->pause_set(s, "t1", "pipe", "fold1", PAUSE_NONE, CONF_T0 + 4), 1);
    es_claim c;
    CHECK_INT(conformance_claim(s, 10, CONF_T0 + 5, &c), 0);
    CHECK_INT(c.n, 3);
    if (c.n == 3) {
        CHECK_STR(c.jobs[0].id, "j1");
        CHECK_STR(c.jobs[1].id, "j4");
        CHECK_STR(c.jobs[2].id, "j5");
    }
    CHECK_INT(s->ops->queue_complete(s, &c, c.n, CONF_T0 + 5), 0);
    store_claim_clear(&c);
    for (int i = 0; i < 5; i++) free(keys[i]);
}

static void conformance_pause_scopes(es_store *s)
{
    char *ka, *kb;
    es_job jobs[2] = {conformance_scoped_job("j1", "t1", "fold1", "a", &ka),
                      conformance_scoped_job("j2", "t2", "#commands", "b", &kb)};
    /* a pipeline-wide pause for every tenant holds every component */
    CHECK_INT(s->ops->pause_set(s, NULL, "pipe", NULL, PAUSE_REJECT, CONF_T0), 0);
    CHECK_INT(s->ops->queue_enqueue(s, jobs, 2, CONF_T0), 0);
    char groups[8][64];
    CHECK_INT(conformance_drain(s, CONF_T0 + 1, groups), 0);
    pause_mode mode;
    CHECK_INT(s->ops->pause_check(s, "t9", "pipe", "#commands", &mode), 0);
    CHECK_INT(mode, PAUSE_REJECT);
    /* a tenant pause on top; resuming the pipeline (any tenant, any
     * component) lifts both */
    CHECK_INT(s->ops->pause_set(s, "t2", "pipe", "fold1", PAUSE_HOLD, CONF_T0), 0);
    conformance_pauses list;
    memset(&list, 0, sizeof list);
    CHECK_INT(s->ops->pause_list(s, conformance_collect_pause, &list), 0);
    CHECK_INT(list.n, 2);
    CHECK_INT(s->ops->pause_set(s, NULL, "pipe", NULL, PAUSE_NONE, CONF_T0 + 2), 0);
    CHECK_INT(s->ops->pause_check(s, "t9", "pipe", NULL, &mode), 0);
    CHECK_INT(mode, PAUSE_NONE);
    CHECK_INT(conformance_drain(s, CONF_T0 + 3, groups), 2);
    free(ka);
    free(kb);
}

/* Collects worker_list entries (ids, and the fields the checks compare). */
typedef struct conformance_workers {
    int n;
    char id[4][64], host[4][64], generation[4][64];
    int64_t jobs_done[4], last_beat[4], pid[4];
    int lost[4], threads[4];
    double jobs_per_s[4];
} conformance_workers;

static int conformance_collect_worker(void *ud, const es_worker_info *w)
{
    conformance_workers *c = ud;
    if (c->n < 4) {
        snprintf(c->id[c->n], sizeof c->id[0], "%s", w->id);
        snprintf(c->host[c->n], sizeof c->host[0], "%s", w->host);
        snprintf(c->generation[c->n], sizeof c->generation[0], "%s", w->generation);
        c->jobs_done[c->n] = w->jobs_done;
        c->last_beat[c->n] = w->last_beat;
        c->pid[c->n] = w->pid;
        c->lost[c->n] = w->lost;
        c->threads[c->n] = w->threads;
        c->jobs_per_s[c->n] = w->jobs_per_s;
    }
    c->n++;
    return 0;
}

static conformance_workers conformance_list_workers(es_store *s, int64_t now)
{
    conformance_workers c;
    memset(&c, 0, sizeof c);
    CHECK_INT(s->ops->worker_list(s, now, conformance_collect_worker, &c), 0);
    return c;
}

static void conformance_workers_registry(es_store *s)
{
    es_worker_info a = {.id = "w-b", .host = "hostA", .pid = 41, .role = "worker",
                        .threads = 4, .jobs_done = 10, .jobs_per_s = 2.5,
                        .generation = "gen1", .started_at = CONF_T0 - 100,
                        .lease_ms = 1000};
    es_worker_info b = {.id = "w-a", .host = "hostB", .pid = 42, .role = "all",
                        .threads = 2, .generation = "gen1", .started_at = CONF_T0,
                        .lease_ms = 1000};
    conformance_workers c = conformance_list_workers(s, CONF_T0);
    CHECK_INT(c.n, 0);
    CHECK_INT(s->ops->worker_beat(s, &a, CONF_T0), 0);
    CHECK_INT(s->ops->worker_beat(s, &b, CONF_T0 + 10), 0);

    /* listed by id, with every field of the last beat */
    c = conformance_list_workers(s, CONF_T0 + 20);
    CHECK_INT(c.n, 2);
    CHECK_STR(c.id[0], "w-a");
    CHECK_STR(c.id[1], "w-b");
    CHECK_STR(c.host[1], "hostA");
    CHECK_STR(c.generation[1], "gen1");
    CHECK_INT(c.pid[1], 41);
    CHECK_INT(c.threads[1], 4);
    CHECK_INT(c.jobs_done[1], 10);
    CHECK(c.jobs_per_s[1] > 2.49 && c.jobs_per_s[1] < 2.51);
    CHECK_INT(c.last_beat[0], CONF_T0 + 10);
    CHECK_INT(c.lost[0], 0);
    CHECK_INT(c.lost[1], 0);

    /* a new beat replaces the entry */
    a.jobs_done = 25;
    a.generation = "gen2";
    CHECK_INT(s->ops->worker_beat(s, &a, CONF_T0 + 2000), 0);
    c = conformance_list_workers(s, CONF_T0 + 2000);
    CHECK_INT(c.n, 2);
    CHECK_INT(c.jobs_done[1], 25);
    CHECK_STR(c.generation[1], "gen2");
    CHECK_INT(c.last_beat[1], CONF_T0 + 2000);

    /* silent for more than STORE_WORKER_LOST_LEASES leases: lost */
    int64_t lost_at = CONF_T0 + 10 + STORE_WORKER_LOST_LEASES * 1000 + 1;
    c = conformance_list_workers(s, lost_at);
    CHECK_INT(c.n, 2);
    CHECK_INT(c.lost[0], 1);
    CHECK_INT(c.lost[1], 0);

    /* a lost worker that beats again is alive */
    CHECK_INT(s->ops->worker_beat(s, &b, lost_at), 0);
    c = conformance_list_workers(s, lost_at);
    CHECK_INT(c.lost[0], 0);

    /* pruned once lost for STORE_WORKER_PRUNE_MS: gone for good */
    int64_t pruned_at = CONF_T0 + 2000 + STORE_WORKER_LOST_LEASES * 1000 +
                        STORE_WORKER_PRUNE_MS + 1;
    c = conformance_list_workers(s, pruned_at);
    CHECK_INT(c.n, 1);
    CHECK_STR(c.id[0], "w-a");
    c = conformance_list_workers(s, lost_at);
    CHECK_INT(c.n, 1);

    /* a beat needs an id */
    es_worker_info anon = {.id = "", .host = "h", .role = "all", .generation = "",
                           .lease_ms = 1000};
    CHECK_INT(s->ops->worker_beat(s, &anon, CONF_T0), -1);
}

/* ----------------------------------------------------------- runner */

typedef void (*conformance_check_fn)(es_store *s);

/* Runs one check on a fresh store, labelled with its name. */
static void conformance_one(conformance_open_fn open_fresh, void *ud,
                            const char *name, conformance_check_fn fn)
{
    es_store *s = open_fresh(ud);
    testlib_current = name;
    int before = testlib_failures;
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "FAIL %s: open: %s\n", name, diag_message());
        return;
    }
    fn(s);
    s->ops->close(s);
    fprintf(stderr, "%s %s\n", testlib_failures == before ? "ok  " : "FAIL", name);
}

#define CONFORMANCE_ONE(fn) conformance_one(open_fresh, ud, #fn, fn)

/* Runs every check whose kind the store implements against fresh stores
 * from open_fresh (each is closed with ops->close). Kinds a backend lacks
 * print "skip: <kind>". Failures count in testlib's totals. */
static void conformance_run(conformance_open_fn open_fresh, void *ud)
{
    es_store *probe = open_fresh(ud);
    CHECK(probe != NULL);
    if (!probe) {
        fprintf(stderr, "FAIL conformance: open: %s\n", diag_message());
        return;
    }
    const es_store_ops *ops = probe->ops;
    int has_events = ops->event_append && ops->event_read;
    int has_queue = ops->queue_enqueue && ops->queue_claim && ops->queue_complete &&
                    ops->queue_fail && ops->queue_extend && ops->queue_stats &&
                    ops->queue_parked_list && ops->queue_parked_retry &&
                    ops->queue_parked_skip && ops->queue_origin_pending;
    int has_folds = ops->fold_get && ops->fold_put;
    int has_records = ops->record_append && ops->record_list;
    int has_pause = has_queue && ops->pause_set && ops->pause_check && ops->pause_list;
    int has_workers = ops->worker_beat && ops->worker_list;
    probe->ops->close(probe);

    if (has_events) {
        CONFORMANCE_ONE(conformance_events_seq);
        CONFORMANCE_ONE(conformance_events_idempotency);
        CONFORMANCE_ONE(conformance_events_read);
    } else {
        fprintf(stderr, "skip: events\n");
    }
    if (has_queue) {
        CONFORMANCE_ONE(conformance_queue_fifo_batch);
        CONFORMANCE_ONE(conformance_queue_partial_complete);
        CONFORMANCE_ONE(conformance_queue_run_at);
        CONFORMANCE_ONE(conformance_queue_round_robin);
        CONFORMANCE_ONE(conformance_queue_lease);
        CONFORMANCE_ONE(conformance_queue_fail_retry);
        CONFORMANCE_ONE(conformance_queue_parking);
        CONFORMANCE_ONE(conformance_queue_skip_item);
        CONFORMANCE_ONE(conformance_queue_id_idempotency);
        CONFORMANCE_ONE(conformance_queue_debounce);
        CONFORMANCE_ONE(conformance_queue_throttle);
        CONFORMANCE_ONE(conformance_queue_origin);
        CONFORMANCE_ONE(conformance_queue_stats);
        if (ops->counts_items) CONFORMANCE_ONE(conformance_queue_items);
    } else {
        fprintf(stderr, "skip: queue\n");
    }
    if (has_pause) {
        CONFORMANCE_ONE(conformance_pause_hold_resume);
        CONFORMANCE_ONE(conformance_pause_scopes);
    } else {
        fprintf(stderr, "skip: pause\n");
    }
    if (has_workers) {
        CONFORMANCE_ONE(conformance_workers_registry);
    } else {
        fprintf(stderr, "skip: workers\n");
    }
    if (has_folds) {
        CONFORMANCE_ONE(conformance_folds);
    } else {
        fprintf(stderr, "skip: folds\n");
    }
    if (has_records) {
        CONFORMANCE_ONE(conformance_records_append);
    } else {
        fprintf(stderr, "skip: records\n");
    }
}

#endif
