/* bench_clickhouse.c: ClickHouse's own insert rate for 10,000-row
 * JSONEachRow batches of ~400-byte event rows (the ceiling) next to the
 * store's rates on the same server in the same run: the batched writer
 * alone (RowBinary rows, as the store writes the event log), and event_append (seq lookup + buffered rows + commit wait) from
 * several threads. Run through bench/clickhouse/run.sh. */
#include "clickhouse_server.h"

#include "bench_query.h"
#include "clickhouse_internal.h"
#include "clickhouse_store.h"
#include "clock.h"
#include "diag.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define BATCH 10000

static long n_events = 1000000;
static long n_aggregates = 10000;
static int n_threads = 4;

/* ~120 bytes of data JSON (~150 escaped), so a full event row is ~400 bytes. */
static const char payload[] =
    "{\"span_id\":\"0123456789abcdef\",\"name\":\"llm.chat\",\"start\":1700000000000,"
    "\"end\":1700000000420,\"model\":\"gpt-4o-mini\",\"tokens\":640}";

static void event_at(long i, es_event *ev, char *id, char *agg)
{
    sprintf(id, "ev-%08ld", i);
    sprintf(agg, "trace-%06ld", i % n_aggregates);
    *ev = (es_event){.id = id, .tenant_id = (char *)"tenant-1", .aggregate_type = (char *)"trace",
                     .aggregate_id = agg, .seq = i / n_aggregates + 1,
                     .type = (char *)"lw.obs.trace.span_received", .version = (char *)"2024-01-01",
                     .occurred_at = 1700000000000 + i, .created_at = clock_now_ms(),
                     .idempotency_key = id, .data_json = (char *)payload,
                     .metadata_json = (char *)"{}"};
}

static void row_of(json_buf *b, const es_event *ev)
{
    jb_str(b, "{\"tenant_id\":");
    jb_quoted(b, ev->tenant_id);
    jb_str(b, ",\"aggregate_type\":");
    jb_quoted(b, ev->aggregate_type);
    jb_str(b, ",\"aggregate_id\":");
    jb_quoted(b, ev->aggregate_id);
    jb_printf(b, ",\"seq\":%lld,\"id\":", (long long)ev->seq);
    jb_quoted(b, ev->id);
    jb_str(b, ",\"type\":");
    jb_quoted(b, ev->type);
    jb_str(b, ",\"version\":");
    jb_quoted(b, ev->version);
    jb_printf(b, ",\"occurred_at\":%lld,\"created_at\":%lld,\"idempotency_key\":",
              (long long)ev->occurred_at, (long long)ev->created_at);
    jb_quoted(b, ev->idempotency_key);
    jb_str(b, ",\"data\":");
    jb_quoted(b, ev->data_json);
    jb_str(b, ",\"metadata\":\"{}\"}\n");
}

/* ClickHouse alone: sequential 10,000-row INSERTs of prebuilt rows. */
static double ceiling_rate(const ch_conn *conn, double *row_bytes)
{
    json_buf b;
    jb_init(&b);
    int64_t spent = 0;
    char id[32], agg[32];
    size_t bytes = 0;
    for (long i = 0; i < n_events; i++) {
        es_event ev;
        event_at(i, &ev, id, agg);
        row_of(&b, &ev);
        if ((i + 1) % BATCH == 0 || i + 1 == n_events) {
            bytes += b.len;
            int64_t t0 = clock_monotonic_ms();
            if (chhttp_query(conn, 1, "INSERT INTO events FORMAT JSONEachRow", b.data, b.len,
                             NULL) != 0) {
                fprintf(stderr, "ceiling insert: %s\n", diag_message());
                exit(1);
            }
            spent += clock_monotonic_ms() - t0;
            jb_reset(&b);
        }
    }
    jb_free(&b);
    *row_bytes = (double)bytes / (double)n_events;
    return (double)n_events * 1000.0 / (double)(spent ? spent : 1);
}

#define MAX_IN_FLIGHT 64 /* async commits per thread (groups held at once) */

typedef struct worker {
    es_store *s;
    int mode; /* 0: raw writer rows, 1: event_append + tx_commit,
                 2: event_append + commit_async */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int in_flight;
    long from, to;
    int failures;
} worker;

static void on_durable(void *ud, int status)
{
    worker *w = ud;
    pthread_mutex_lock(&w->mu);
    w->in_flight--;
    if (status != 0) w->failures++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    ch_store *cs = (ch_store *)w->s;
    char id[32], agg[32];
    json_buf b;
    jb_init(&b);
    if (w->mode == 0) {
        for (long i = w->from; i < w->to; i++) {
            es_event ev;
            event_at(i, &ev, id, agg);
            jb_reset(&b);
            chevents_row(&b, &ev);
            while (chwriter_append(cs->writer, "events", b.data, b.len, 1, NULL) != 0)
                w->failures++; /* DIAG_BUSY: the buffer drains, try again */
        }
    } else {
        /* a command batch: one aggregate's 100 events per append; mode 1
         * commits (waiting) per 10 aggregates, mode 2 commits every batch
         * asynchronously with at most MAX_IN_FLIGHT waiting */
        es_event evs[100];
        char ids[100][32], aggs[100][32];
        long per_agg = n_events / n_aggregates;
        long a_from = w->from / per_agg, a_to = w->to / per_agg;
        int in_tx = 0;
        for (long a = a_from; a < a_to; a++) {
            if (!in_tx) w->s->ops->tx_begin(w->s), in_tx = 1;
            if (w->mode == 2) {
                pthread_mutex_lock(&w->mu);
                while (w->in_flight >= MAX_IN_FLIGHT) pthread_cond_wait(&w->cond, &w->mu);
                w->in_flight++;
                pthread_mutex_unlock(&w->mu);
            }
            for (long k = 0; k < per_agg; k += 100) {
                size_t n = 0;
                for (long j = k; j < per_agg && j < k + 100; j++, n++) {
                    event_at(a + j * n_aggregates, &evs[n], ids[n], aggs[n]);
                    evs[n].seq = 0;
                }
                append_outcome out[100];
                if (w->s->ops->event_append(w->s, evs, n, clock_now_ms(), out) != 0) {
                    fprintf(stderr, "append: %s\n", diag_message());
                    w->failures++;
                }
            }
            if (w->mode == 2) {
                if (clickhouse_store_commit_async(w->s, on_durable, w) != 0) w->failures++;
                in_tx = 0;
            } else if ((a - a_from) % 10 == 9 || a + 1 == a_to) {
                if (w->s->ops->tx_commit(w->s) != 0) w->failures++;
                in_tx = 0;
            }
        }
    }
    pthread_mutex_lock(&w->mu);
    while (w->in_flight > 0) pthread_cond_wait(&w->cond, &w->mu);
    pthread_mutex_unlock(&w->mu);
    jb_free(&b);
    return NULL;
}

/* Runs the workers in `mode` against a fresh events table; rows/s. */
static double store_rate(const char *url, int mode, clickhouse_stats *st)
{
    es_store *s = clickhouse_store_open(url);
    if (!s) {
        fprintf(stderr, "open: %s\n", diag_message());
        exit(1);
    }
    pthread_t th[64];
    worker w[64];
    int64_t t0 = clock_monotonic_ms();
    long per = n_events / n_threads;
    for (int i = 0; i < n_threads; i++) {
        w[i] = (worker){.s = s, .mode = mode, .from = i * per,
                        .to = i == n_threads - 1 ? n_events : (i + 1) * per};
        pthread_mutex_init(&w[i].mu, NULL);
        pthread_cond_init(&w[i].cond, NULL);
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < n_threads; i++) {
        pthread_join(th[i], NULL);
        if (w[i].failures)
            fprintf(stderr, "worker %d: %d %s\n", i, w[i].failures,
                    mode == 0 ? "appends refused with DIAG_BUSY (buffer full), retried"
                              : "failures");
    }
    if (clickhouse_store_sync(s, 600000) != 0) fprintf(stderr, "sync: %s\n", diag_message());
    int64_t spent = clock_monotonic_ms() - t0;
    clickhouse_store_stats(s, st);
    s->ops->close(s);
    return (double)n_events * 1000.0 / (double)(spent ? spent : 1);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1) n_events = atol(argv[1]);
    if (argc > 2) n_threads = atoi(argv[2]);
    if (n_threads < 1 || n_threads > 64 || n_events < n_aggregates) {
        fprintf(stderr, "usage: bench_clickhouse [events>=10000] [threads 1..64]\n");
        return 2;
    }
    ch_test_server srv;
    memset(&srv, 0, sizeof srv);
    if (ch_server_start(&srv) != 0) return 1;
    const char *names[4] = {"ceiling", "writer", "append", "append_async"};
    char url[4][400];
    ch_conn conn[4];
    for (int i = 0; i < 4; i++) {
        clickhouse_options opt;
        clickhouse_options_default(&opt);
        snprintf(url[i], sizeof url[i], "%s/bench_%s", srv.url, names[i]);
        if (clickhouse_migrate(url[i], NULL, NULL, 0) != 0 ||
            chhttp_parse_url(url[i], &conn[i], &opt) != 0) {
            fprintf(stderr, "migrate: %s\n", diag_message());
            return 1;
        }
    }
    printf("%ld events (~400 B rows) over %ld aggregates, %d threads, clickhouse %s\n",
           n_events, n_aggregates, n_threads, srv.url);
    double row_bytes = 0;
    double ceiling = ceiling_rate(&conn[0], &row_bytes);
    printf("clickhouse alone, %d-row JSONEachRow INSERTs: %9.0f rows/s (%.0f B/row)\n", BATCH,
           ceiling, row_bytes);
    clickhouse_stats st;
    double writer = store_rate(url[1], 0, &st);
    printf("batched writer, rows from %d threads:      %9.0f rows/s  ratio %.2f  "
           "%llu INSERTs, %.0f rows/INSERT\n",
           n_threads, writer, writer / ceiling, (unsigned long long)st.inserts,
           (double)st.rows_inserted / (double)(st.inserts ? st.inserts : 1));
    double append = store_rate(url[2], 1, &st);
    printf("event_append + tx_commit, %d threads:       %9.0f events/s ratio %.2f  "
           "%llu INSERTs, %.0f rows/INSERT\n",
           n_threads, append, append / ceiling, (unsigned long long)st.inserts,
           (double)st.rows_inserted / (double)(st.inserts ? st.inserts : 1));
    double async = store_rate(url[3], 2, &st);
    printf("event_append + commit_async, %d threads:    %9.0f events/s ratio %.2f  "
           "%llu INSERTs, %.0f rows/INSERT\n",
           n_threads, async, async / ceiling, (unsigned long long)st.inserts,
           (double)st.rows_inserted / (double)(st.inserts ? st.inserts : 1));
    printf("active parts of the event log: %lld (waiting commits), %lld (async)\n",
           (long long)bench_query_number(&conn[2],
                                         "SELECT count() FROM system.parts WHERE active AND "
                                         "database = 'bench_append' AND table = 'events'"),
           (long long)bench_query_number(&conn[3],
                                         "SELECT count() FROM system.parts WHERE active AND "
                                         "database = 'bench_append_async' AND table = 'events'"));
    printf("events stored (FINAL): %lld and %lld of %ld\n",
           (long long)bench_query_number(&conn[2], "SELECT count() FROM events FINAL"),
           (long long)bench_query_number(&conn[3], "SELECT count() FROM events FINAL"), n_events);
    for (int i = 0; i < 4; i++) chhttp_conn_free(&conn[i]);
    ch_server_destroy(&srv);
    return 0;
}
