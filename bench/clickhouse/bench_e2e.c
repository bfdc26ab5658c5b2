/* bench_e2e.c: the engine end to end on Redis + ClickHouse (private servers
 * on this machine): N commands over A aggregates through a command handler,
 * one fold and one map (bench/embedded/pipelines, the embedded benchmark's
 * pipeline), each event a ~400-byte row of the event log. Prints the
 * end-to-end rate (enqueue + processing until every queue is empty and
 * every row is inserted), then ClickHouse's
 * own rate for inserting the same event rows (read back from the log) in
 * 10,000-row JSONEachRow INSERTs into a fresh table, measured in the same
 * run, the ratio, rows per INSERT of the event log (system.query_log) and
 * its active parts; and per event, the CPU of each process and Redis's
 * command figures of each phase (enqueueing, processing). Usage: bench_e2e [EVENTS] [AGGREGATES] [SENDERS];
 * each sender sends SEND_BATCH commands per engine_send_many call, as an
 * ingest path does (an OTLP request carries ~100 spans); BENCH_SEND_BATCH
 * sets that number (1: engine_send per command, a Redis round trip each).
 * BENCH_WORKERS sets the engine's worker threads (default: cores),
 * BENCH_CH_OPTIONS the engine's ClickHouse URL options ("?flush_ms=50"). */
#include "clickhouse_server.h"
#include "redis_server.h"

#include "bench_query.h"
#include "clickhouse_internal.h"
#include "clickhouse_store.h"
#include "clock.h"
#include "diag.h"
#include "engine.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CEILING_BATCH 10000
#define SEND_BATCH 100

static long n_events = 1000000;
static long n_aggregates = 10000;
static int n_senders = 4;
static long send_batch = SEND_BATCH;

static void die(const char *what)
{
    fprintf(stderr, "bench_e2e: %s: %s\n", what, diag_message());
    exit(1);
}

typedef struct sender {
    es_engine *e;
    long from, to;
} sender;

/* ~150 bytes of note: with ids, type, metadata and JSON the row is ~400 B. */
static void bench_payload(char *out, size_t size, long i)
{
    snprintf(out, size,
             "{\"id\":\"trace-%06ld\",\"amount\":%ld,\"note\":\"span %09ld of the "
             "benchmark: llm.chat model=gpt-4o-mini tokens=640 start=1700000000000 "
             "end=1700000000420\"}",
             i % n_aggregates, i % 100, i);
}

static void *send_main(void *arg)
{
    sender *s = arg;
    char (*payloads)[512] = malloc((size_t)send_batch * sizeof *payloads);
    const char **batch = malloc((size_t)send_batch * sizeof *batch);
    char **ids = malloc((size_t)send_batch * sizeof *ids);
    if (!payloads || !batch || !ids) die("out of memory");
    for (long i = s->from; i < s->to; i += send_batch) {
        size_t n = 0, failed;
        for (long j = i; j < s->to && j < i + send_batch; j++, n++) {
            bench_payload(payloads[n], sizeof payloads[n], j);
            batch[n] = payloads[n];
        }
        char *errors = NULL;
        if (send_batch == 1
                ? engine_send(s->e, "bench-tenant", "bench", "add", batch[0], NULL, &ids[0], NULL)
                : engine_send_many(s->e, "bench-tenant", "bench", "add", batch, n, ids, &failed,
                                   &errors))
            die("send");
        for (size_t k = 0; k < n; k++) free(ids[k]);
    }
    free(payloads);
    free(batch);
    free(ids);
    return NULL;
}

/* Groups holding jobs (the queue's set, emptied as groups drain): a cheap
 * poll, where queue_stats would walk every job. */
static long long groups_left(redisContext *rc)
{
    redisReply *r = redisCommand(rc, "SCARD {esengine}:groups");
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        fprintf(stderr, "bench_e2e: SCARD failed\n");
        exit(1);
    }
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

/* CPU seconds (user + system) used so far by process `pid`, from /proc. */
static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* fields after the command name */
    unsigned long long utime = 0, stime = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                     &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Prints Redis's per-command figures (INFO commandstats: calls and CPU
 * microseconds) per event, the commands that cost most first as Redis
 * lists them, then resets them (so each phase is printed apart). */
static void print_script_stats(redisContext *rc, const char *phase)
{
    redisReply *r = redisCommand(rc, "INFO commandstats");
    if (!r || r->type != REDIS_REPLY_STRING) {
        fprintf(stderr, "bench_e2e: INFO commandstats failed\n");
        exit(1);
    }
    printf("redis per event, %s (calls, cpu us):", phase);
    for (char *line = strtok(r->str, "\r\n"); line; line = strtok(NULL, "\r\n")) {
        char name[64];
        double calls, usec;
        if (sscanf(line, "cmdstat_%63[^:]:calls=%lf,usec=%lf", name, &calls, &usec) == 3 &&
            usec / (double)n_events >= 0.5)
            printf(" %s %.2f %.1f;", name, calls / (double)n_events, usec / (double)n_events);
    }
    printf("\n");
    freeReplyObject(r);
    if (!(r = redisCommand(rc, "CONFIG RESETSTAT"))) {
        fprintf(stderr, "bench_e2e: CONFIG RESETSTAT failed\n");
        exit(1);
    }
    freeReplyObject(r);
}

/* Prints Redis's memory once the queues are empty: what stays is the fold
 * states of record and the event index. */
static void print_memory(redisContext *rc)
{
    redisReply *r = redisCommand(rc, "INFO memory");
    const char *at = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "used_memory:") : NULL;
    if (at) {
        double bytes = atof(at + strlen("used_memory:"));
        printf("redis memory, queues empty: %.1f MB (%.0f B per event, %.0f B per aggregate)\n",
               bytes / 1e6, bytes / (double)n_events, bytes / (double)n_aggregates);
    }
    if (r) freeReplyObject(r);
}

static int64_t jobs_left(es_engine *e)
{
    int64_t left = engine_jobs_queued(e);
    if (left < 0) die("stats");
    return left;
}

/* Waits until ClickHouse runs no merge (so the ceiling is not slowed by the
 * engine run's background work), at most 120 s. */
static void wait_merges(const ch_conn *conn)
{
    for (int i = 0; i < 1200; i++) {
        if ((long long)bench_query_number(conn, "SELECT count() FROM system.merges") == 0) return;
        clock_sleep_ms(100);
    }
}

/* ClickHouse alone: the rows of `from` (JSONEachRow, read back) inserted
 * into `to`.events in sequential CEILING_BATCH-row INSERTs. rows/s. */
static double ceiling_rate(const ch_conn *from, const ch_conn *to, long *rows_out,
                           double *row_bytes)
{
    json_buf rows;
    jb_init(&rows);
    if (chhttp_query(from, 1, "SELECT * FROM events FORMAT JSONEachRow", NULL, 0, &rows) != 0)
        die("reading the event rows back");
    wait_merges(to);
    int64_t spent = 0;
    long n = 0;
    size_t start = 0;
    for (size_t i = 0; i < rows.len; i++) {
        if (rows.data[i] != '\n') continue;
        n++;
        if (n % CEILING_BATCH == 0 || i + 1 == rows.len) {
            int64_t t0 = clock_monotonic_ms();
            if (chhttp_query(to, 1, "INSERT INTO events FORMAT JSONEachRow", rows.data + start,
                             i + 1 - start, NULL) != 0)
                die("ceiling insert");
            spent += clock_monotonic_ms() - t0;
            start = i + 1;
        }
    }
    *rows_out = n;
    *row_bytes = n ? (double)rows.len / (double)n : 0;
    jb_free(&rows);
    return (double)n * 1000.0 / (double)(spent ? spent : 1);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1) n_events = atol(argv[1]);
    if (argc > 2) n_aggregates = atol(argv[2]);
    if (argc > 3) n_senders = atoi(argv[3]);
    if (getenv("BENCH_SEND_BATCH")) send_batch = atol(getenv("BENCH_SEND_BATCH"));
    if (send_batch < 1) send_batch = 1;
    if (n_events < 1 || n_aggregates < 1 || n_senders < 1 || n_senders > 64) {
        fprintf(stderr, "usage: bench_e2e [EVENTS] [AGGREGATES] [SENDERS 1..64]\n");
        return 2;
    }
    redis_server rs;
    memset(&rs, 0, sizeof rs);
    if (redis_server_start(&rs) != 0) {
        fprintf(stderr, "bench_e2e: redis-server: %s\n", rs.why);
        return 1;
    }
    ch_test_server srv;
    memset(&srv, 0, sizeof srv);
    if (ch_server_start(&srv) != 0) return 1;
    char url_e2e[400], url_ceiling[400];
    snprintf(url_e2e, sizeof url_e2e, "%s/bench_e2e", srv.url);
    snprintf(url_ceiling, sizeof url_ceiling, "%s/bench_ceiling", srv.url);
    ch_conn conn_e2e, conn_ceiling;
    clickhouse_options copt;
    clickhouse_options_default(&copt);
    if (clickhouse_migrate(url_e2e, NULL, NULL, 0) != 0 ||
        clickhouse_migrate(url_ceiling, NULL, NULL, 0) != 0 ||
        chhttp_parse_url(url_e2e, &conn_e2e, &copt) != 0 ||
        chhttp_parse_url(url_ceiling, &conn_ceiling, &copt) != 0)
        die("migrate");

    char dir[] = "/tmp/esengine-bench-e2e.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    const char *pipelines = getenv("BENCH_PIPELINES") ? getenv("BENCH_PIPELINES")
                                                      : "bench/embedded/pipelines";
    es_engine_options opt;
    engine_options_default(&opt);
    opt.pipelines_dir = pipelines;
    opt.data_dir = dir;
    opt.redis_url = rs.url;
    char url_engine[600];
    snprintf(url_engine, sizeof url_engine, "%s%s", url_e2e,
             getenv("BENCH_CH_OPTIONS") ? getenv("BENCH_CH_OPTIONS") : "");
    opt.clickhouse_url = url_engine;
    if (getenv("BENCH_WORKERS")) opt.workers = atoi(getenv("BENCH_WORKERS"));
    es_engine *e = engine_open(&opt);
    if (!e) die("open");

    printf("%ld commands -> events over %ld aggregates, %d senders of %ld commands per call,"
           " redis %s, clickhouse %s\n",
           n_events, n_aggregates, n_senders, send_batch, rs.url, srv.url);
    double cpu0[3] = {proc_cpu_s(getpid()), proc_cpu_s(rs.pid), proc_cpu_s(srv.pid)};
    int64_t t0 = clock_monotonic_ms();
    pthread_t th[64];
    sender sd[64];
    long per = n_events / n_senders;
    for (int i = 0; i < n_senders; i++) {
        sd[i] = (sender){e, i * per, i == n_senders - 1 ? n_events : (i + 1) * per};
        pthread_create(&th[i], NULL, send_main, &sd[i]);
    }
    for (int i = 0; i < n_senders; i++) pthread_join(th[i], NULL);
    int64_t t_sent = clock_monotonic_ms();
    double cpu_sent[3] = {proc_cpu_s(getpid()), proc_cpu_s(rs.pid), proc_cpu_s(srv.pid)};
    redisContext *rc = redisConnect("127.0.0.1", rs.port);
    if (!rc || rc->err) die("redis connect");
    print_script_stats(rc, "enqueue");
    if (engine_start(e) != 0) die("start");
    while (groups_left(rc) > 0) clock_sleep_ms(50);
    print_script_stats(rc, "processing");
    print_memory(rc);
    redisFree(rc);
    if (jobs_left(e) != 0) die("jobs left after the groups drained");
    engine_stop(e);
    es_store *ch = engine_backends(e)->events;
    if (clickhouse_store_sync(ch, 600000) != 0) die("sync");
    int64_t t_done = clock_monotonic_ms();
    double cpu1[3] = {proc_cpu_s(getpid()), proc_cpu_s(rs.pid), proc_cpu_s(srv.pid)};
    clickhouse_stats st;
    clickhouse_store_stats(ch, &st);
    engine_close(e);

    double secs = (double)(t_done - t0) / 1000.0;
    double e2e = (double)n_events / secs;
    printf("enqueue commands:        %9.0f /s (%.1f s)\n",
           (double)n_events * 1000.0 / (double)(t_sent - t0 ? t_sent - t0 : 1),
           (double)(t_sent - t0) / 1000.0);
    printf("process (cmd+fold+map):  %9.0f events/s (%.1f s)\n",
           (double)n_events * 1000.0 / (double)(t_done - t_sent ? t_done - t_sent : 1),
           (double)(t_done - t_sent) / 1000.0);
    printf("end to end:              %9.0f events/s (%.1f s)\n", e2e, secs);
    printf("cpu seconds used:        engine %.1f, redis-server %.1f, clickhouse-server %.1f "
           "(of %.1f s x %ld cores)\n",
           cpu1[0] - cpu0[0], cpu1[1] - cpu0[1], cpu1[2] - cpu0[2], secs,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("cpu us per event:        engine %.1f, redis-server %.1f, clickhouse-server %.1f; "
           "of which enqueueing commands: engine %.1f, redis-server %.1f\n",
           (cpu1[0] - cpu0[0]) * 1e6 / (double)n_events,
           (cpu1[1] - cpu0[1]) * 1e6 / (double)n_events,
           (cpu1[2] - cpu0[2]) * 1e6 / (double)n_events,
           (cpu_sent[0] - cpu0[0]) * 1e6 / (double)n_events,
           (cpu_sent[1] - cpu0[1]) * 1e6 / (double)n_events);
    printf("writer, every table:     %llu INSERTs, %.0f rows/INSERT\n",
           (unsigned long long)st.inserts,
           (double)st.rows_inserted / (double)(st.inserts ? st.inserts : 1));
    bench_query_number(&conn_e2e, "SYSTEM FLUSH LOGS"); /* query_log: every 7.5 s otherwise */
    printf("event log:               %.0f rows/INSERT over %lld INSERTs, %lld active parts, "
           "%lld events stored (FINAL)\n",
           bench_query_number(&conn_e2e,
                              "SELECT sum(written_rows) / count() FROM system.query_log "
                              "WHERE type = 2 AND query LIKE 'INSERT INTO `bench_e2e`.`events`%'"),
           (long long)bench_query_number(&conn_e2e,
                                         "SELECT count() FROM system.query_log WHERE type = 2 "
                                         "AND query LIKE 'INSERT INTO `bench_e2e`.`events`%'"),
           (long long)bench_query_number(&conn_e2e,
                                         "SELECT count() FROM system.parts WHERE active AND "
                                         "database = 'bench_e2e' AND table = 'events'"),
           (long long)bench_query_number(&conn_e2e, "SELECT count() FROM events FINAL"));
    long rows = 0;
    double row_bytes = 0;
    double ceiling = ceiling_rate(&conn_e2e, &conn_ceiling, &rows, &row_bytes);
    printf("clickhouse alone:        %9.0f rows/s (the same %ld rows, %.0f B each, "
           "%d-row JSONEachRow INSERTs)\n",
           ceiling, rows, row_bytes, CEILING_BATCH);
    printf("ratio end-to-end/alone:  %.3f\n", e2e / ceiling);

    chhttp_conn_free(&conn_e2e);
    chhttp_conn_free(&conn_ceiling);
    ch_server_destroy(&srv);
    redis_server_stop(&rs);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) != 0;
}
