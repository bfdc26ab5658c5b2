/* test_deferred_ack.c: a deferred unit hands its finish callback what
 * finishing the claim needs (group, token, job count, first job, failed
 * job), once its writes are reported durable, and drops it when they are
 * reported lost; the units durable at a collect go to one call. */
#include <stdlib.h>
#include <string.h>

#include "deferred_ack.h"
#include "testlib.h"

/* A claim of n jobs of group "g" (token 7), job i with id "job-<i>" and
 * payload "payload-<i>". */
static es_claim make_claim(size_t n)
{
    es_claim c = {0};
    c.token = 7;
    c.lease_until = 1000;
    c.group_key = strdup("g");
    c.jobs = calloc(n, sizeof *c.jobs);
    c.n = n;
    for (size_t i = 0; i < n; i++) {
        char id[32], payload[32];
        snprintf(id, sizeof id, "job-%zu", i);
        snprintf(payload, sizeof payload, "payload-%zu", i);
        c.jobs[i].id = strdup(id);
        c.jobs[i].pipeline = strdup("p");
        c.jobs[i].component = strdup("#commands");
        c.jobs[i].kind = JOB_COMMAND;
        c.jobs[i].attempts = (int)i;
        c.jobs[i].payload = strdup(payload);
        c.jobs[i].payload_len = strlen(payload);
    }
    return c;
}

typedef struct finished {
    int calls, units;
    size_t n, n_done, n_jobs;
    long long token;
    char group[16], first_id[16], failed_id[16], failed_payload[16], error[32], job_id[16];
    char groups[64]; /* the groups of every unit handed over, in order */
} finished;

/* Records the last unit of each call, and the groups of all. */
static void record_finish(void *ctx, const deferred_ready *units, size_t n)
{
    finished *f = ctx;
    f->calls++;
    for (size_t i = 0; i < n; i++) {
        const deferred_ready *u = &units[i];
        f->units++;
        f->n = u->claim->n;
        f->n_done = u->n_done;
        f->n_jobs = u->n_jobs;
        f->token = u->claim->token;
        snprintf(f->group, sizeof f->group, "%s", u->claim->group_key);
        size_t at = strlen(f->groups);
        snprintf(f->groups + at, sizeof f->groups - at, "%s;", u->claim->group_key);
        snprintf(f->first_id, sizeof f->first_id, "%s", u->claim->jobs[0].id);
        snprintf(f->error, sizeof f->error, "%s", u->error ? u->error : "");
        snprintf(f->job_id, sizeof f->job_id, "%s", u->n_jobs ? u->jobs[0].id : "");
        if (u->error && u->n_done < u->claim->n) {
            const es_job *failed = &u->claim->jobs[u->n_done];
            snprintf(f->failed_id, sizeof f->failed_id, "%s", failed->id);
            snprintf(f->failed_payload, sizeof f->failed_payload, "%.*s",
                     (int)failed->payload_len, failed->payload);
        }
    }
}

static void test_failed_unit_keeps_what_finishing_needs(void)
{
    es_claim c = make_claim(3);
    es_job *jobs = calloc(1, sizeof *jobs);
    jobs[0].id = strdup("follow-up");
    deferred_list list;
    deferred_list_init(&list);
    deferred_unit *u = deferred_new(&c, 2, "boom", jobs, 1, 1);
    CHECK(u != NULL);
    store_claim_clear(&c); /* the unit does not borrow the worker's claim */
    deferred_push(&list, u);
    finished f = {0};
    CHECK_INT(deferred_collect(&list, record_finish, &f, 0), 1); /* not durable yet */
    CHECK_INT(f.calls, 0);
    deferred_done(u, 0);
    CHECK_INT(deferred_collect(&list, record_finish, &f, 0), 0);
    CHECK_INT(f.calls, 1);
    CHECK_INT(f.n, 3);
    CHECK_INT(f.n_done, 2);
    CHECK_INT(f.n_jobs, 1);
    CHECK_STR(f.job_id, "follow-up");
    CHECK_INT(f.token, 7);
    CHECK_STR(f.group, "g");
    CHECK_STR(f.first_id, "job-0");
    CHECK_STR(f.error, "boom");
    CHECK_STR(f.failed_id, "job-2");
    CHECK_STR(f.failed_payload, "payload-2");
    deferred_list_destroy(&list);
}

static void test_lost_writes_skip_the_finish(void)
{
    es_claim c = make_claim(2);
    deferred_list list;
    deferred_list_init(&list);
    deferred_unit *u = deferred_new(&c, 2, NULL, NULL, 0, 2);
    CHECK(u != NULL);
    store_claim_clear(&c);
    deferred_push(&list, u);
    deferred_done(u, 0);
    deferred_done(u, -1); /* one store lost its writes */
    finished f = {0};
    CHECK_INT(deferred_collect(&list, record_finish, &f, 0), 0);
    CHECK_INT(f.calls, 0); /* the claim is left to expire */
    deferred_list_destroy(&list);
}

/* Units durable by the time of a collect are handed over in one call,
 * oldest first (so a store enqueues and completes them in one go); one
 * still waiting stays. */
static void test_durable_units_finish_together(void)
{
    deferred_list list;
    deferred_list_init(&list);
    deferred_unit *u[3];
    for (int i = 0; i < 3; i++) {
        es_claim c = make_claim(1);
        free(c.group_key);
        c.group_key = strdup(i == 0 ? "a" : i == 1 ? "b" : "c");
        u[i] = deferred_new(&c, 1, NULL, NULL, 0, 1);
        CHECK(u[i] != NULL);
        store_claim_clear(&c);
        deferred_push(&list, u[i]);
    }
    deferred_done(u[0], 0);
    deferred_done(u[2], 0);
    finished f = {0};
    CHECK_INT(deferred_collect(&list, record_finish, &f, 0), 1);
    CHECK_INT(f.calls, 1);
    CHECK_INT(f.units, 2);
    CHECK_STR(f.groups, "a;c;");
    deferred_done(u[1], 0);
    CHECK_INT(deferred_collect(&list, record_finish, &f, 0), 0);
    CHECK_INT(f.calls, 2);
    CHECK_STR(f.groups, "a;c;b;");
    deferred_list_destroy(&list);
}

int main(void)
{
    RUN_TEST(test_failed_unit_keeps_what_finishing_needs);
    RUN_TEST(test_lost_writes_skip_the_finish);
    RUN_TEST(test_durable_units_finish_together);
    return TEST_EXIT();
}
