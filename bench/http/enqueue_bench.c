/* enqueue_bench.c: the SQLite queue under the OTLP ingest's write pattern,
 * without HTTP or Lua: R enqueues of one bench/http request's 100 spans in
 * 10 random trace groups, as J jobs (default 10: one job of 10 commands,
 * 5,690 payload bytes, per trace; J = 100 is one job of 569 bytes per
 * span), then claims of up to 100 jobs, each completed, until the queue is
 * empty. Prints the process CPU time (every thread: the checkpointer's
 * too) per span for each phase. Build and run: bash bench/http/enqueue.sh
 * [R [J]]. */
#include "clock.h"
#include "diag.h"
#include "sqlite_store.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define SPANS 100
#define GROUPS 10
#define SPAN_BYTES 569

static double cpu_seconds(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "enqueue_bench: %s: %s\n", what, diag_message());
    exit(1);
}

int main(int argc, char **argv)
{
    int jobs_per = argc == 4 ? atoi(argv[3]) : GROUPS;
    if ((argc != 3 && argc != 4) || jobs_per < GROUPS || jobs_per > SPANS ||
        SPANS % jobs_per != 0 || jobs_per % GROUPS != 0) {
        fprintf(stderr, "usage: enqueue_bench DATA_DIR REQUESTS [JOBS: 10, 20, 50 or 100]\n");
        return 2;
    }
    int requests = atoi(argv[2]);
    size_t payload_len = (size_t)SPAN_BYTES * (SPANS / jobs_per);
    es_store *s = sqlite_store_open(argv[1]);
    if (!s) die("open");
    char *payload = malloc(payload_len + 1);
    if (!payload) die("malloc");
    memset(payload, 'x', payload_len);
    payload[payload_len] = '\0';
    srand(42);
    long seq = 0;
    double t0 = cpu_seconds();
    for (int r = 0; r < requests; r++) {
        es_job jobs[SPANS];
        char ids[SPANS][40], groups[GROUPS][80];
        int64_t now = clock_now_ms();
        for (int g = 0; g < GROUPS; g++)
            snprintf(groups[g], sizeof groups[g], "bench\x1ftrace_processing\x1f#commands\x1f%08x%08x%08x%08x",
                     rand(), rand(), rand(), rand());
        for (int i = 0; i < jobs_per; i++) {
            memset(&jobs[i], 0, sizeof jobs[i]);
            snprintf(ids[i], sizeof ids[i], "%012llx%020ld", (long long)now, seq++);
            jobs[i].id = jobs[i].origin_id = ids[i];
            jobs[i].kind = JOB_COMMAND;
            jobs[i].tenant_id = "bench";
            jobs[i].pipeline = "trace_processing";
            jobs[i].component = "record_span";
            jobs[i].group_key = groups[i / (jobs_per / GROUPS)];
            jobs[i].run_at = now;
            jobs[i].payload = payload;
            jobs[i].payload_len = payload_len;
        }
        if (s->ops->queue_enqueue(s, jobs, (size_t)jobs_per, now) != 0) die("enqueue");
    }
    double t1 = cpu_seconds();
    long done = 0;
    for (;;) {
        es_claim c;
        memset(&c, 0, sizeof c);
        int rc = s->ops->queue_claim(s, "bench", SPANS, clock_now_ms(), 60000, 0, &c);
        if (rc < 0) die("claim");
        if (rc == 1) break;
        done += (long)c.n;
        if (s->ops->queue_complete(s, &c, c.n, clock_now_ms()) != 0) die("complete");
        store_claim_clear(&c);
    }
    double t2 = cpu_seconds();
    double spans = (double)requests * SPANS;
    printf("%d jobs per request: enqueue %.1f us/span, claim+complete %.1f us/span (%ld jobs)\n",
           jobs_per, (t1 - t0) * 1e6 / spans, (t2 - t1) * 1e6 / spans, done);
    free(payload);
    s->ops->close(s);
    return 0;
}
