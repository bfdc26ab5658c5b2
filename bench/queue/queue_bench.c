/* queue_bench.c: the esengine Redis queue under the bench/queue workload:
 * N jobs of ~200 bytes over G groups enqueued in batches, then processed by
 * T threads with a no-op handler (batch claims of up to K jobs), checking
 * per-group order. Prints one JSON line with rates and Redis CPU seconds.
 * Usage: queue_bench URL [jobs] [groups] [threads] [batch] */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "diag.h"
#include "redis_store.h"

typedef struct bench {
    es_store *s;
    int jobs, groups, batch;
    atomic_int done, disorder, errors;
    int64_t *last_seq; /* per group, touched only by the group's claimant */
} bench;

/* used_cpu_sys + used_cpu_user of the server, in seconds. */
static double redis_cpu_seconds(const char *host, int port)
{
    redisContext *c = redisConnect(host, port);
    double total = -1;
    redisReply *r = c && !c->err ? redisCommand(c, "INFO cpu") : NULL;
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *sys = strstr(r->str, "used_cpu_sys:");
        const char *user = strstr(r->str, "used_cpu_user:");
        if (sys && user) total = atof(sys + 13) + atof(user + 14);
    }
    if (r) freeReplyObject(r);
    if (c) redisFree(c);
    return total;
}

static void *worker(void *arg)
{
    bench *b = arg;
    char name[32];
    snprintf(name, sizeof name, "w%lu", (unsigned long)pthread_self() % 1000);
    while (atomic_load(&b->done) < b->jobs) {
        es_claim c;
        memset(&c, 0, sizeof c);
        int rc = b->s->ops->queue_claim(b->s, name, (size_t)b->batch, clock_now_ms(), 30000, 50, &c);
        if (rc < 0) {
            atomic_fetch_add(&b->errors, 1);
            continue;
        }
        if (rc == 1) continue;
        int g = atoi(c.group_key + 1);
        for (size_t i = 0; i < c.n; i++) {
            int64_t seq = atoll(c.jobs[i].payload + 7); /* {"seq":N,... */
            if (seq < b->last_seq[g]) atomic_fetch_add(&b->disorder, 1);
            b->last_seq[g] = seq;
        }
        if (b->s->ops->queue_complete(b->s, &c, c.n, clock_now_ms()) == 0)
            atomic_fetch_add(&b->done, (int)c.n);
        else
            atomic_fetch_add(&b->errors, 1);
        store_claim_clear(&c);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s redis://host:port [jobs] [groups] [threads] [batch]\n", argv[0]);
        return 2;
    }
    bench b;
    memset(&b, 0, sizeof b);
    b.jobs = argc > 2 ? atoi(argv[2]) : 100000;
    b.groups = argc > 3 ? atoi(argv[3]) : 1000;
    int threads = argc > 4 ? atoi(argv[4]) : 4;
    b.batch = argc > 5 ? atoi(argv[5]) : 100;
    char host[64] = "127.0.0.1";
    int port = 6379;
    sscanf(argv[1], "redis://%63[^:]:%d", host, &port);
    char qname[64];
    snprintf(qname, sizeof qname, "bench-%d", (int)getpid());
    b.s = redis_store_open(argv[1], qname);
    if (!b.s) {
        fprintf(stderr, "open: %s\n", diag_message());
        return 1;
    }
    b.last_seq = calloc((size_t)b.groups, sizeof *b.last_seq);

    /* jobs: group i % groups, 10 tenants, one origin per 10 jobs */
    es_job *jobs = calloc((size_t)b.jobs, sizeof *jobs);
    char (*ids)[16] = calloc((size_t)b.jobs, 16);
    char (*groups)[16] = calloc((size_t)b.groups, 16);
    char (*origins)[16] = calloc((size_t)b.jobs / 10 + 1, 16);
    char (*payloads)[208] = calloc((size_t)b.jobs, 208);
    static const char *tenants[10] = {"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"};
    for (int g = 0; g < b.groups; g++) snprintf(groups[g], 16, "g%d", g);
    for (int i = 0; i < b.jobs / 10 + 1; i++) snprintf(origins[i], 16, "cmd-%d", i);
    for (int i = 0; i < b.jobs; i++) {
        es_job *j = &jobs[i];
        snprintf(ids[i], 16, "j%d", i);
        int len = snprintf(payloads[i], 208, "{\"seq\":%d,\"pad\":\"", i);
        while (len < 198) payloads[i][len++] = 'x';
        memcpy(payloads[i] + len, "\"}", 3);
        j->id = ids[i];
        j->kind = JOB_FOLD;
        j->tenant_id = (char *)tenants[(i % b.groups) % 10];
        j->pipeline = (char *)"bench";
        j->component = (char *)"fold";
        j->group_key = groups[i % b.groups];
        j->origin_id = origins[i / 10];
        j->payload = payloads[i];
        j->payload_len = strlen(payloads[i]);
    }

    double cpu0 = redis_cpu_seconds(host, port);
    int64_t t0 = clock_monotonic_ms();
    for (int i = 0; i < b.jobs; i += 1000) {
        int n = b.jobs - i < 1000 ? b.jobs - i : 1000;
        if (b.s->ops->queue_enqueue(b.s, jobs + i, (size_t)n, clock_now_ms()) != 0) {
            fprintf(stderr, "enqueue: %s\n", diag_message());
            return 1;
        }
    }
    int64_t t1 = clock_monotonic_ms();
    double cpu1 = redis_cpu_seconds(host, port);
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, worker, &b);
    for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
    int64_t t2 = clock_monotonic_ms();
    double cpu2 = redis_cpu_seconds(host, port);

    double enq_s = (double)(t1 - t0) / 1000.0, proc_s = (double)(t2 - t1) / 1000.0;
    double per100k = 100000.0 / b.jobs;
    printf("{\"peer\":\"esengine\",\"jobs\":%d,\"groups\":%d,\"concurrency\":%d,\"batch\":%d,"
           "\"enqueue_jobs_s\":%.0f,\"process_jobs_s\":%.0f,\"ordered\":%s,\"errors\":%d,"
           "\"redis_cpu_enqueue_s\":%.3f,\"redis_cpu_process_s\":%.3f,\"redis_cpu_per_100k_s\":%.3f}\n",
           b.jobs, b.groups, threads, b.batch, b.jobs / enq_s, b.jobs / proc_s,
           atomic_load(&b.disorder) == 0 && atomic_load(&b.done) == b.jobs ? "true" : "false",
           atomic_load(&b.errors), (cpu1 - cpu0) * per100k, (cpu2 - cpu1) * per100k,
           (cpu2 - cpu0) * per100k);
    b.s->ops->close(b.s);
    free(th);
    free(jobs);
    free(ids);
    free(groups);
    free(origins);
    free(payloads);
    free(b.last_seq);
    return atomic_load(&b.disorder) == 0 ? 0 : 1;
}
