/* cli_workers.c: the "workers" section of `esengine status`: every engine
 * process in the queue store's worker registry with its last heartbeat,
 * jobs/s and script generation; lost ones (silent for several leases) and
 * stopped ones (their last beat said no thread runs) flagged. */
#include "cli.h"
#include "clock.h"
#include "json_buf.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct workers_out {
    es_config *cfg;
    int64_t now;
    int rows, alive, stopped;
} workers_out;

/* "stopped" (a clean shutdown's last beat), "lost" or "alive". */
static const char *worker_state(const es_worker_info *w)
{
    return w->threads == 0 ? "stopped" : w->lost ? "lost" : "alive";
}

static int print_worker(void *ud, const es_worker_info *w)
{
    workers_out *o = ud;
    double age = (double)(o->now - w->last_beat) / 1000.0;
    if (age < 0) age = 0;
    if (o->cfg->json) {
        json_buf b;
        jb_init(&b);
        jb_str(&b, "{\"worker\":{\"id\":");
        jb_quoted(&b, w->id);
        jb_str(&b, ",\"host\":");
        jb_quoted(&b, w->host);
        jb_printf(&b, ",\"pid\":%lld,\"role\":", (long long)w->pid);
        jb_quoted(&b, w->role);
        jb_printf(&b, ",\"threads\":%d,\"state\":\"%s\",\"last_heartbeat_age_s\":%.3f,"
                      "\"last_heartbeat_at\":%lld,\"jobs_done\":%lld,\"jobs_per_s\":%.1f,"
                      "\"started_at\":%lld,\"generation\":",
                  w->threads, worker_state(w), age, (long long)w->last_beat,
                  (long long)w->jobs_done, w->jobs_per_s, (long long)w->started_at);
        jb_quoted(&b, w->generation);
        jb_str(&b, "}}");
        char *line = jb_take(&b);
        printf("%s\n", line ? line : "{}");
        free(line);
    } else {
        if (o->rows == 0)
            printf("\n%-36s %-24s %-6s %5s %8s %-5s %10s %9s %s\n", "WORKER", "HOST/PID", "ROLE",
                   "THR", "BEAT_S", "STATE", "JOBS", "JOBS/S", "GENERATION");
        char hostpid[64];
        snprintf(hostpid, sizeof hostpid, "%.40s/%lld", w->host, (long long)w->pid);
        printf("%-36s %-24s %-6s %5d %8.1f %-5s %10lld %9.1f %.12s\n", w->id, hostpid, w->role,
               w->threads, age, worker_state(w), (long long)w->jobs_done,
               w->jobs_per_s, w->generation);
    }
    o->rows++;
    if (w->threads == 0) o->stopped++;
    else if (!w->lost) o->alive++;
    return 0;
}

int cli_status_workers(es_engine *e, es_config *cfg)
{
    es_store *q = engine_backends(e)->queue;
    if (!q->ops->worker_list) return 0;
    workers_out o = {cfg, clock_now_ms(), 0, 0, 0};
    if (q->ops->worker_list(q, o.now, print_worker, &o) != 0) return -1;
    if (!cfg->json && o.rows == 0) printf("\nworkers seen: none\n");
    else if (!cfg->json)
        printf("workers seen: %d alive, %d lost, %d stopped\n", o.alive,
               o.rows - o.alive - o.stopped, o.stopped);
    return 0;
}
