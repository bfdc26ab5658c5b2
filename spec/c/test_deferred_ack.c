/* test_deferred_ack.c: a deferred unit hands its finish callback what
 * finishing the claim needs (group, token, job count, first job, failed
 * job), once its writes are reported durable, and drops it when they are
 * reported lost. */
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
    int calls;
    size_t n, n_done, n_jobs;
    long long token;
    char group[16], first_id[16], failed_id[16], failed_payload[16], error[32], job_id[16];
} finished;

static int record_finish(void *ctx, const es_claim *claim, size_t n_done, const char *error,
                         const es_job *jobs, size_t n_jobs)
{
    finished *f = ctx;
    f->calls++;
    f->n = claim->n;
    f->n_done = n_done;
    f->n_jobs = n_jobs;
    f->token = claim->token;
    snprintf(f->group, sizeof f->group, "%s", claim->group_key);
    snprintf(f->first_id, sizeof f->first_id, "%s", claim->jobs[0].id);
    snprintf(f->error, sizeof f->error, "%s", error ? error : "");
    snprintf(f->job_id, sizeof f->job_id, "%s", n_jobs ? jobs[0].id : "");
    if (error && n_done < claim->n) {
        const es_job *failed = &claim->jobs[n_done];
        snprintf(f->failed_id, sizeof f->failed_id, "%s", failed->id);
        snprintf(f->failed_payload, sizeof f->failed_payload, "%.*s",
                 (int)failed->payload_len, failed->payload);
    }
    return 0;
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

int main(void)
{
    RUN_TEST(test_failed_unit_keeps_what_finishing_needs);
    RUN_TEST(test_lost_writes_skip_the_finish);
    return TEST_EXIT();
}
