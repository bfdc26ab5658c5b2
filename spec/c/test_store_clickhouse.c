/* test_store_clickhouse.c: the ClickHouse store against a private
 * clickhouse-server: the shared conformance suite, URL and schema SQL,
 * migration, batching across threads, hostile ids, the replay scan's pages,
 * an outage while rows are buffered, the writer's memory bound, and
 * idempotent appends through the Redis event index (a private
 * redis-server) beyond the index's window. */
#include "testlib.h"

#include "clickhouse_server.h"
#include "redis_server.h"
#include "store_conformance.h"

#include "clickhouse_internal.h"
#include "clickhouse_store.h"
#include "metrics.h"
#include "clock.h"
#include "diag.h"
#include "redis_store.h"

#include <pthread.h>

static ch_test_server server;
static int db_counter;

/* The URL of a new, migrated, empty database. */
static void fresh_url(char *url, size_t n, const char *options)
{
    snprintf(url, n, "%s/t%d_%d%s", server.url, (int)getpid(), ++db_counter,
             options ? options : "");
    if (clickhouse_migrate(url, NULL, NULL, 0) != 0)
        fprintf(stderr, "migrate %s: %s\n", url, diag_message());
}

static es_store *open_fresh(void *ud)
{
    char url[512];
    fresh_url(url, sizeof url, ud);
    return clickhouse_store_open(url);
}

/* Runs `sql` and returns the first line of its TSV answer as an integer. */
static long long query_int(const char *url, const char *sql)
{
    clickhouse_options opt;
    clickhouse_options_default(&opt);
    ch_conn conn;
    if (chhttp_parse_url(url, &conn, &opt) != 0) return -1;
    json_buf out;
    jb_init(&out);
    long long v = -1;
    if (chhttp_query(&conn, 1, sql, NULL, 0, &out) == 0 && out.data) v = atoll(out.data);
    else fprintf(stderr, "query %s: %s\n", sql, diag_message());
    jb_free(&out);
    chhttp_conn_free(&conn);
    return v;
}

/* Runs a statement that answers nothing. 0 or -1 (printed). */
static int query_exec(const char *url, const char *sql)
{
    clickhouse_options opt;
    clickhouse_options_default(&opt);
    ch_conn conn;
    if (chhttp_parse_url(url, &conn, &opt) != 0) return -1;
    int rc = chhttp_query(&conn, 1, sql, NULL, 0, NULL);
    if (rc != 0) fprintf(stderr, "query %s: %s\n", sql, diag_message());
    chhttp_conn_free(&conn);
    return rc;
}

static void test_conformance(void) { conformance_run(open_fresh, NULL); }

static void test_url_parsing(void)
{
    clickhouse_options opt;
    clickhouse_options_default(&opt);
    ch_conn c;
    CHECK_INT(chhttp_parse_url("http://us%40r:p%3Ass@db.example:9123/analytics?flush_rows=5&flush_ms=7",
                               &c, &opt), 0);
    CHECK_STR(c.base_url, "http://db.example:9123/");
    CHECK_STR(c.user, "us@r");
    CHECK_STR(c.password, "p:ss");
    CHECK_STR(c.database, "analytics");
    CHECK_INT(opt.flush_rows, 5);
    CHECK_INT(opt.flush_ms, 7);
    chhttp_conn_free(&c);

    CHECK_INT(chhttp_parse_url("http://localhost", &c, &opt), 0);
    CHECK_STR(c.base_url, "http://localhost:8123/");
    CHECK_STR(c.database, "default");
    CHECK(c.user == NULL);
    chhttp_conn_free(&c);

    CHECK_INT(chhttp_parse_url("https://x/db", &c, &opt), -1);
    CHECK_INT(diag_code_get(), DIAG_INVALID);
    CHECK_INT(chhttp_parse_url("http://x/bad-db", &c, &opt), -1);
    CHECK_INT(chhttp_parse_url("http://x/db?nope=1", &c, &opt), -1);
    CHECK_INT(diag_code_get(), DIAG_INVALID);

    CHECK(clickhouse_store_open("http://127.0.0.1:1/db") == NULL);
    CHECK_INT(diag_code_get(), DIAG_IO);
}

static const clickhouse_column summary_columns[] = {{"span_count", "UInt32"},
                                                    {"name", "String"}};

static void test_schema_sql(void)
{
    clickhouse_table_def defs[2] = {
        {"trace_summaries", CLICKHOUSE_TABLE_FOLD, summary_columns, 2},
        {"stored_spans", CLICKHOUSE_TABLE_RECORDS, NULL, 0}};
    char **sql;
    size_t n;
    CHECK_INT(clickhouse_schema_sql("esengine", "prod", defs, 2, &sql, &n), 0);
    CHECK_INT(n, 5);
    for (size_t i = 0; i < n; i++) CHECK(strstr(sql[i], " ON CLUSTER `prod`") != NULL);
    CHECK(strstr(sql[2], "ENGINE = ReplicatedReplacingMergeTree("
                         "'/clickhouse/tables/{shard}/esengine/events', '{replica}')") != NULL);
    CHECK(strstr(sql[2], "PARTITION BY toYYYYMM(toDateTime(intDiv(created_at, 1000)))") != NULL);
    CHECK(strstr(sql[2], "ORDER BY (tenant_id, aggregate_type, aggregate_id, seq)") != NULL);
    CHECK(strstr(sql[3], "`span_count` UInt32 MATERIALIZED "
                         "toUInt32(visitParamExtractUInt(state, 'span_count'))") != NULL);
    CHECK(strstr(sql[3], "'{replica}', last_seq)") != NULL);
    CHECK(strstr(sql[4], "ReplicatedReplacingMergeTree(") != NULL);
    CHECK(strstr(sql[4], "ORDER BY (tenant_id, record_id)") != NULL);
    clickhouse_sql_free(sql, n);

    CHECK_INT(clickhouse_schema_sql("esengine", NULL, defs, 2, &sql, &n), 0);
    for (size_t i = 0; i < n; i++) CHECK(strstr(sql[i], "CLUSTER") == NULL);
    CHECK(strstr(sql[3], "ENGINE = ReplacingMergeTree(last_seq) ORDER BY (tenant_id, key)") != NULL);
    clickhouse_sql_free(sql, n);

    clickhouse_table_def bad[3] = {{"x`; DROP", CLICKHOUSE_TABLE_FOLD, NULL, 0},
                                   {"events", CLICKHOUSE_TABLE_FOLD, NULL, 0},
                                   {"ok", CLICKHOUSE_TABLE_FOLD,
                                    (clickhouse_column[]){{"c", "DateTime64"}}, 1}};
    for (int i = 0; i < 3; i++) {
        CHECK_INT(clickhouse_schema_sql("esengine", NULL, &bad[i], 1, &sql, &n), -1);
        CHECK_INT(diag_code_get(), DIAG_INVALID);
    }
}

static void test_migrate_columns(void)
{
    char url[512];
    snprintf(url, sizeof url, "%s/mig%d", server.url, (int)getpid());
    clickhouse_table_def def = {"trace_summaries", CLICKHOUSE_TABLE_FOLD, summary_columns, 1};
    CHECK_INT(clickhouse_migrate(url, NULL, &def, 1), 0);
    /* again, with one more declared column: idempotent, adds the column */
    def.n_columns = 2;
    CHECK_INT(clickhouse_migrate(url, NULL, &def, 1), 0);
    CHECK_INT(query_int(url, "SELECT count() FROM schema_version"), 1);
    CHECK_INT(query_int(url, "SELECT max(version) FROM schema_version"), CLICKHOUSE_SCHEMA_VERSION);

    es_store *s = clickhouse_store_open(url);
    CHECK(s != NULL);
    if (!s) return;
    CHECK_INT(s->ops->fold_put(s, "t1", "trace_summaries", "a1",
                               "{\"span_count\":41,\"name\":\"x\"}", 1, 5), 0);
    CHECK_INT(s->ops->fold_put(s, "t1", "trace_summaries", "a1",
                               "{\"span_count\":42,\"name\":\"y\"}", 2, 6), 0);
    CHECK_INT(clickhouse_store_sync(s, 10000), 0);
    CHECK_INT(query_int(url, "SELECT span_count FROM trace_summaries FINAL "
                             "WHERE tenant_id = 't1' AND aggregate_id = 'a1'"), 42);
    CHECK_INT(query_int(url, "SELECT count() FROM trace_summaries FINAL WHERE name = 'y'"), 1);
    s->ops->close(s);
}

/* ---- batching across threads ---- */

typedef struct batch_worker {
    es_store *s;
    int thread;
    int failures;
} batch_worker;

static void *batch_worker_main(void *arg)
{
    batch_worker *w = arg;
    char tenant[] = "t1", type[] = "trace", etype[] = "x", ver[] = "v", data[] = "{}";
    for (int b = 0; b < 5; b++) {
        es_event evs[50];
        char ids[50][32], aggs[50][32];
        for (int i = 0; i < 50; i++) {
            snprintf(ids[i], sizeof ids[i], "e-%d-%d-%d", w->thread, b, i);
            snprintf(aggs[i], sizeof aggs[i], "agg-%d-%d", w->thread, i % 5);
            evs[i] = (es_event){.id = ids[i], .tenant_id = tenant, .aggregate_type = type,
                                .aggregate_id = aggs[i], .type = etype, .version = ver,
                                .idempotency_key = ids[i], .data_json = data,
                                .metadata_json = data};
        }
        append_outcome out[50];
        if (w->s->ops->tx_begin(w->s) != 0 ||
            w->s->ops->event_append(w->s, evs, 50, clock_now_ms(), out) != 0 ||
            w->s->ops->tx_commit(w->s) != 0) {
            fprintf(stderr, "batch worker: %s\n", diag_message());
            w->failures++;
        }
    }
    return NULL;
}

static void test_batching(void)
{
    char url[512];
    fresh_url(url, sizeof url, NULL);
    es_store *s = clickhouse_store_open(url);
    CHECK(s != NULL);
    if (!s) return;
    pthread_t th[4];
    batch_worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (batch_worker){s, i, 0};
        pthread_create(&th[i], NULL, batch_worker_main, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(w[i].failures, 0);
    }
    clickhouse_stats st;
    clickhouse_store_stats(s, &st);
    /* committed means inserted: no sync needed before counting */
    CHECK_INT(st.rows_inserted, 1000);
    CHECK_INT(query_int(url, "SELECT count() FROM events"), 1000);
    CHECK_INT(query_int(url, "SELECT countDistinct(aggregate_id, seq) FROM events"), 1000);
    CHECK_INT(query_int(url, "SELECT max(seq) FROM events"), 50);
    fprintf(stderr, "  1000 rows from 4 threads in %llu INSERTs\n",
            (unsigned long long)st.inserts);
    CHECK(st.inserts >= 1 && st.inserts <= 20);
    s->ops->close(s);
}

/* ---- async commit ---- */

typedef struct commit_flag {
    pthread_mutex_t mu;
    int calls, status;
    long long rows_at_callback;
    const char *url;
} commit_flag;

static void on_commit(void *ud, int status)
{
    commit_flag *f = ud;
    /* the rows are in ClickHouse by the time the callback runs */
    long long rows = query_int(f->url, "SELECT count() FROM events");
    pthread_mutex_lock(&f->mu);
    f->calls++;
    f->status = status;
    f->rows_at_callback = rows;
    pthread_mutex_unlock(&f->mu);
}

static void test_commit_async(void)
{
    char url[512];
    fresh_url(url, sizeof url, NULL);
    es_store *s = clickhouse_store_open(url);
    CHECK(s != NULL);
    if (!s) return;
    commit_flag f = {PTHREAD_MUTEX_INITIALIZER, 0, -2, -1, url};
    char tenant[] = "t1", type[] = "trace", etype[] = "x", ver[] = "v", data[] = "{}";
    es_event evs[20];
    char ids[20][16];
    for (int i = 0; i < 20; i++) {
        snprintf(ids[i], sizeof ids[i], "e%d", i);
        evs[i] = (es_event){.id = ids[i], .tenant_id = tenant, .aggregate_type = type,
                            .aggregate_id = type, .type = etype, .version = ver,
                            .idempotency_key = ids[i], .data_json = data, .metadata_json = data};
    }
    append_outcome out[20];
    CHECK_INT(s->ops->tx_begin(s), 0);
    CHECK_INT(s->ops->event_append(s, evs, 20, 1000, out), 0);
    CHECK_INT(clickhouse_store_commit_async(s, on_commit, &f), 0);
    int64_t deadline = clock_monotonic_ms() + 10000;
    int calls = 0;
    while (!calls && clock_monotonic_ms() < deadline) {
        pthread_mutex_lock(&f.mu);
        calls = f.calls;
        pthread_mutex_unlock(&f.mu);
        if (!calls) clock_sleep_ms(5);
    }
    CHECK_INT(calls, 1);
    CHECK_INT(f.status, 0);
    CHECK_INT(f.rows_at_callback, 20);

    /* nothing written in the unit of work: the callback runs at once */
    f.calls = 0;
    CHECK_INT(s->ops->tx_begin(s), 0);
    CHECK_INT(clickhouse_store_commit_async(s, on_commit, &f), 0);
    CHECK_INT(f.calls, 1);
    s->ops->close(s);
}

/* ---- hostile ids ---- */

static const char *hostile[] = {
    "it's", "back\\slash", "new\nline\r\ttab", "uni\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
    "'; DROP TABLE events; --", "\\'", "quote\"d", "ctl\x01\x1f\x7f", "",
};
#define N_HOSTILE (sizeof hostile / sizeof hostile[0])

typedef struct hostile_read {
    int n;
    char *data, *agg, *tenant, *key;
} hostile_read;

static int hostile_collect(void *ud, const es_event *ev)
{
    hostile_read *r = ud;
    if (r->n++ == 0) {
        r->data = strdup(ev->data_json);
        r->agg = strdup(ev->aggregate_id);
        r->tenant = strdup(ev->tenant_id);
        r->key = strdup(ev->idempotency_key);
    }
    return 0;
}

typedef struct hostile_records {
    int n;
    char *id, *agg, *json;
} hostile_records;

static int hostile_record(void *ud, const char *record_id, const char *aggregate_id,
                          const char *record_json, int64_t created_at)
{
    hostile_records *r = ud;
    (void)created_at;
    if (r->n++ == 0) {
        r->id = strdup(record_id);
        r->agg = strdup(aggregate_id);
        r->json = strdup(record_json);
    }
    return 0;
}

static void test_hostile_ids(void)
{
    char url[512];
    fresh_url(url, sizeof url, NULL);
    es_store *s = clickhouse_store_open(url);
    CHECK(s != NULL);
    if (!s) return;
    char type[] = "tr'ace", etype[] = "x", ver[] = "v", meta[] = "{}";
    for (size_t i = 0; i < N_HOSTILE; i++) {
        char id[64], data[256];
        snprintf(id, sizeof id, "id-%zu-%s", i, hostile[i]);
        json_buf d;
        jb_init(&d);
        jb_str(&d, "{\"v\":");
        jb_quoted(&d, hostile[i]);
        jb_str(&d, "}");
        snprintf(data, sizeof data, "%s", d.data);
        jb_free(&d);
        es_event ev = {.id = id, .tenant_id = (char *)hostile[i], .aggregate_type = type,
                       .aggregate_id = (char *)hostile[i], .type = etype, .version = ver,
                       .idempotency_key = id, .data_json = data, .metadata_json = meta};
        append_outcome o = 0;
        CHECK_INT(s->ops->event_append(s, &ev, 1, 1000, &o), 0);
        CHECK_INT(o, APPEND_NEW);
        CHECK_INT(ev.seq, 1);
        CHECK_INT(s->ops->fold_put(s, hostile[i], "folds", hostile[i], data, 1, 1000), 0);
        CHECK_INT(s->ops->record_append(s, hostile[i], "recs", hostile[i], hostile[i], data,
                                        1000), 0);
    }
    for (size_t i = 0; i < N_HOSTILE; i++) {
        char id[64], data[256];
        snprintf(id, sizeof id, "id-%zu-%s", i, hostile[i]);
        json_buf d;
        jb_init(&d);
        jb_str(&d, "{\"v\":");
        jb_quoted(&d, hostile[i]);
        jb_str(&d, "}");
        snprintf(data, sizeof data, "%s", d.data);
        jb_free(&d);

        hostile_read r = {0};
        CHECK_INT(s->ops->event_read(s, hostile[i], type, hostile[i], 0, 0, hostile_collect, &r), 0);
        CHECK_INT(r.n, 1); /* exactly its own: no other tenant's event leaks in */
        if (r.n) {
            CHECK_STR(r.tenant, hostile[i]);
            CHECK_STR(r.agg, hostile[i]);
            CHECK_STR(r.key, id);
            CHECK_STR(r.data, data);
        }
        free(r.data), free(r.agg), free(r.tenant), free(r.key);

        char *state = NULL;
        int64_t last = 0;
        CHECK_INT(s->ops->fold_get(s, hostile[i], "folds", hostile[i], &state, &last), 0);
        CHECK_STR(state, data);
        free(state);

        hostile_records rec = {0};
        CHECK_INT(s->ops->record_list(s, hostile[i], "recs", 0, hostile_record, &rec), 0);
        CHECK_INT(rec.n, 1);
        if (rec.n) {
            CHECK_STR(rec.id, hostile[i]);
            CHECK_STR(rec.agg, hostile[i]);
            CHECK_STR(rec.json, data);
        }
        free(rec.id), free(rec.agg), free(rec.json);
    }
    CHECK_INT(query_int(url, "SELECT count() FROM events"), (long long)N_HOSTILE);
    s->ops->close(s);
}

/* ---- the replay scan: planned key-range pages ---- */

#define SCAN_MAX 400

typedef struct scan_log {
    char keys[SCAN_MAX][32]; /* "tenant/aggregate/seq" in delivery order */
    size_t n, page;          /* events delivered; of them in this call */
    char tenant[8], agg[8];  /* the last event's aggregate and seq */
    int64_t seq;
} scan_log;

static int scan_collect(void *ud, const es_event *ev)
{
    scan_log *l = ud;
    if (l->n < SCAN_MAX)
        snprintf(l->keys[l->n], sizeof l->keys[0], "%s/%s/%04lld", ev->tenant_id,
                 ev->aggregate_id, (long long)ev->seq);
    l->n++;
    l->page++;
    snprintf(l->tenant, sizeof l->tenant, "%s", ev->tenant_id);
    snprintf(l->agg, sizeof l->agg, "%s", ev->aggregate_id);
    l->seq = ev->seq;
    return 0;
}

/* Appends n events to (tenant, type, agg) and adds their keys to `want`
 * (when not NULL). */
static void scan_append(es_store *s, const char *tenant, const char *type, const char *agg,
                        int n, scan_log *want)
{
    char etype[] = "x", ver[] = "v", data[] = "{}";
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "%s-%s-%s-%d", tenant, type, agg, i);
        es_event ev = {.id = id, .tenant_id = (char *)tenant, .aggregate_type = (char *)type,
                       .aggregate_id = (char *)agg, .type = etype, .version = ver,
                       .idempotency_key = id, .data_json = data, .metadata_json = data};
        append_outcome o = 0;
        CHECK_INT(s->ops->event_append(s, &ev, 1, 1000, &o), 0);
        if (want && want->n < SCAN_MAX)
            snprintf(want->keys[want->n++], sizeof want->keys[0], "%s/%s/%04lld", tenant, agg,
                     (long long)ev.seq);
    }
}

static int key_order(const void *a, const void *b) { return strcmp(a, b); }

/* Pages of 7 as the replay reads them (scan, then event_read for the rest
 * of the aggregate a full page ends in), over two tenants, another
 * aggregate type, rows repeated by a second insert and aggregates created
 * after the first page (past the plan and inside a planned range): every
 * event once, in (tenant, aggregate, seq) order. Then one unlimited scan. */
static void test_scan_pages(void)
{
    char url[512];
    fresh_url(url, sizeof url, NULL);
    es_store *s = clickhouse_store_open(url);
    CHECK(s != NULL);
    if (!s) return;
    static scan_log want, got;
    memset(&want, 0, sizeof want);
    memset(&got, 0, sizeof got);
    const char *tenants[] = {"t1", "t2"};
    for (int t = 0; t < 2; t++) {
        for (int a = 0; a < 12; a++) {
            char agg[8];
            snprintf(agg, sizeof agg, "a%02d", a);
            scan_append(s, tenants[t], "acct", agg, 1 + (a * 7 + t) % 13, &want);
        }
    }
    scan_append(s, "t1", "other", "a03", 5, NULL);
    CHECK(clickhouse_store_sync(s, 30000) == 0);
    /* a retried insert, not merged yet: the rows of a04 twice */
    CHECK_INT(query_exec(url, "INSERT INTO events SELECT * FROM events WHERE aggregate_id = 'a04'"),
              0);
    CHECK_INT(query_int(url, "SELECT count() FROM events WHERE aggregate_id = 'a04'"),
              2 * ((1 + 28 % 13) + (1 + 29 % 13)));
    char at[8] = "", aa[8] = "";
    for (int page = 0; page < 200; page++) {
        got.page = 0;
        CHECK_INT(s->ops->event_scan(s, NULL, "acct", at, aa, 0, 7, scan_collect, &got), 0);
        if (page == 0) { /* after the plan: one past it, one inside a range */
            scan_append(s, "t2", "acct", "z9", 3, &want);
            scan_append(s, "t2", "acct", "a055", 2, &want);
        }
        if (got.page < 7) break;
        CHECK(got.page == 7);
        CHECK_INT(s->ops->event_read(s, got.tenant, "acct", got.agg, got.seq, 0, scan_collect,
                                     &got), 0);
        snprintf(at, sizeof at, "%s", got.tenant);
        snprintf(aa, sizeof aa, "%s", got.agg);
    }
    qsort(want.keys, want.n, sizeof want.keys[0], key_order);
    CHECK_INT(got.n, want.n);
    for (size_t i = 0; i < want.n && i < got.n; i++) CHECK_STR(got.keys[i], want.keys[i]);

    memset(&got, 0, sizeof got);
    CHECK_INT(s->ops->event_scan(s, NULL, "acct", NULL, NULL, 0, 0, scan_collect, &got), 0);
    CHECK_INT(got.n, want.n);
    for (size_t i = 0; i < want.n && i < got.n; i++) CHECK_STR(got.keys[i], want.keys[i]);
    s->ops->close(s);
}

/* ---- outage while rows are buffered ---- */

typedef struct sync_thread {
    es_store *s;
    int rc;
} sync_thread;

static void *sync_main(void *arg)
{
    sync_thread *t = arg;
    t->rc = clickhouse_store_sync(t->s, 60000);
    return NULL;
}

/* Polls the writer until it has failed at least once (state, not time). */
static int wait_insert_error(es_store *s)
{
    int64_t deadline = clock_monotonic_ms() + 20000;
    clickhouse_stats st;
    do {
        clickhouse_store_stats(s, &st);
        if (st.insert_errors > 0) return 1;
        clock_sleep_ms(10);
    } while (clock_monotonic_ms() < deadline);
    return 0;
}

static void test_outage(void)
{
    char url[512];
    fresh_url(url, sizeof url, "?flush_ms=100&commit_timeout_ms=60000");
    es_store *s = clickhouse_store_open(url);
    CHECK(s != NULL);
    if (!s) return;
    char tenant[] = "t1", type[] = "trace", etype[] = "x", ver[] = "v", data[] = "{\"k\":1}";
    CHECK_INT(s->ops->fold_put(s, "t1", "summaries", "warm", "{}", 1, 1), 0);
    /* 300 events buffered, then the server dies before they are flushed */
    es_event evs[300];
    char ids[300][16];
    for (int i = 0; i < 300; i++) {
        snprintf(ids[i], sizeof ids[i], "e%d", i);
        evs[i] = (es_event){.id = ids[i], .tenant_id = tenant, .aggregate_type = type,
                            .aggregate_id = (char *)(i % 2 ? "a1" : "a2"), .type = etype,
                            .version = ver, .idempotency_key = ids[i], .data_json = data,
                            .metadata_json = data};
    }
    append_outcome out[300];
    ch_server_stop(&server, 1);
    /* appends need the server (seq lookup) ... */
    CHECK_INT(s->ops->event_append(s, evs, 300, 1000, out), -1);
    CHECK_INT(diag_code_get(), DIAG_IO);
    /* ... fold rows and records only need the buffer */
    for (int i = 0; i < 300; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        CHECK_INT(s->ops->fold_put(s, "t1", "summaries", key, data, i + 1, 1000), 0);
    }
    sync_thread st = {s, -2};
    pthread_t th;
    pthread_create(&th, NULL, sync_main, &st);
    CHECK(wait_insert_error(s));
    CHECK_INT(ch_server_start(&server), 0);
    pthread_join(th, NULL);
    CHECK_INT(st.rc, 0);
    CHECK_INT(query_int(url, "SELECT count() FROM summaries FINAL"), 301);

    /* events buffered (slow flush) when the server goes down mid-run */
    CHECK_INT(s->ops->tx_begin(s), 0);
    CHECK_INT(s->ops->event_append(s, evs, 300, 1000, out), 0);
    ch_server_stop(&server, 0);
    CHECK(wait_insert_error(s));
    CHECK_INT(ch_server_start(&server), 0);
    CHECK_INT(s->ops->tx_commit(s), 0);
    CHECK_INT(query_int(url, "SELECT count() FROM events FINAL"), 300);
    CHECK_INT(query_int(url, "SELECT max(seq) FROM events WHERE aggregate_id = 'a1'"), 150);
    s->ops->close(s);
}

static void test_memory_bound(void)
{
    char url[512];
    fresh_url(url, sizeof url, "?buffer_mb=1&busy_wait_ms=20&commit_timeout_ms=60000");
    es_store *s = clickhouse_store_open(url);
    CHECK(s != NULL);
    if (!s) return;
    CHECK_INT(s->ops->record_append(s, "t1", "spans", "warm", "a", "{}", 1), 0);
    CHECK_INT(clickhouse_store_sync(s, 10000), 0);
    ch_server_stop(&server, 1);
    char big[2048];
    memset(big, 'x', sizeof big - 1);
    big[0] = '"';
    big[sizeof big - 2] = '"';
    big[sizeof big - 1] = '\0';
    int accepted = 0, busy = 0;
    for (int i = 0; i < 2000 && !busy; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        if (s->ops->record_append(s, "t1", "spans", id, "a", big, 1000 + i) == 0) accepted++;
        else busy = diag_code_get() == DIAG_BUSY;
    }
    CHECK(busy);
    CHECK(accepted > 300 && accepted < 1000);
    CHECK_INT(clickhouse_store_busy(s), 1);
    clickhouse_stats st;
    clickhouse_store_stats(s, &st);
    CHECK(st.buffered_bytes <= ((size_t)1 << 20));
    CHECK_INT(ch_server_start(&server), 0);
    CHECK_INT(clickhouse_store_sync(s, 60000), 0);
    CHECK_INT(clickhouse_store_busy(s), 0);
    CHECK_INT(query_int(url, "SELECT count() FROM spans FINAL"), accepted + 1);
    s->ops->close(s);
}

/* Appends one event of aggregate a1 (id, key) at `now`; its outcome. */
static int append_one(es_store *s, const char *id, const char *key, int64_t now,
                      int64_t *seq)
{
    char tenant[] = "t1", type[] = "acct", agg[] = "a1", etype[] = "x", ver[] = "v";
    char data[] = "{}";
    es_event ev = {.id = (char *)id, .tenant_id = tenant, .aggregate_type = type,
                   .aggregate_id = agg, .type = etype, .version = ver,
                   .idempotency_key = (char *)key, .data_json = data, .metadata_json = data};
    append_outcome out = 0;
    if (s->ops->event_append(s, &ev, 1, now, &out) != 0) {
        fprintf(stderr, "append %s: %s\n", id, diag_message());
        return -1;
    }
    *seq = ev.seq;
    return (int)out;
}

/* With the Redis event index, which forgets all but an aggregate's recent
 * events: an old key still dedupes and an old id is still a retry (asked
 * of ClickHouse), and new events go on from the right seq. */
static void test_index_window(void)
{
    redis_server rs;
    memset(&rs, 0, sizeof rs);
    if (redis_server_start(&rs) != 0) {
        fprintf(stderr, "SKIP test_index_window: no redis-server: %s\n", rs.why);
        return;
    }
    char url[512];
    fresh_url(url, sizeof url, "?flush_ms=50");
    es_store *index = redis_store_open(rs.url, "chidx");
    es_store *s = clickhouse_store_open(url);
    CHECK(index && s);
    if (!index || !s) goto out;
    CHECK_INT(clickhouse_store_use_index(s, index), 0);
    int64_t seq = 0;
    char id[32], key[32];
    for (int i = 1; i <= 300; i++) {
        snprintf(id, sizeof id, "e%d", i);
        snprintf(key, sizeof key, i == 3 ? "key-3" : "e%d", i);
        CHECK_INT(append_one(s, id, key, 1000 + i, &seq), APPEND_NEW);
        CHECK_INT(seq, i);
        if (i == 150) CHECK_INT(clickhouse_store_sync(s, 30000), 0);
    }
    /* 300 new events: decided by the index alone */
    CHECK_INT((int)metrics_get(METRIC_EVENT_LOG_LOOKUPS, "undecided", NULL, NULL), 0);
    /* old ones: stored (e3, e10) or only buffered (e160), each asked of
     * ClickHouse (the index may know them) */
    CHECK_INT(append_one(s, "other", "key-3", 5000, &seq), APPEND_DUPLICATE);
    CHECK_INT(append_one(s, "e10", "e10", 5000, &seq), APPEND_RETRY);
    CHECK_INT(seq, 10);
    CHECK_INT(append_one(s, "e160", "e160", 5000, &seq), APPEND_RETRY);
    CHECK_INT(seq, 160);
    CHECK_INT(append_one(s, "again", "e20", 5000, &seq), APPEND_DUPLICATE);
    CHECK_INT((int)metrics_get(METRIC_EVENT_LOG_LOOKUPS, "undecided", NULL, NULL), 4);
    CHECK_INT(append_one(s, "e301", "e301", 5000, &seq), APPEND_NEW);
    CHECK_INT(seq, 301);
    CHECK_INT(clickhouse_store_sync(s, 30000), 0);
    CHECK_INT(query_int(url, "SELECT count() FROM events"), 301);
    CHECK_INT(query_int(url, "SELECT uniqExact(seq) FROM events"), 301);
    CHECK_INT(append_one(s, "e3", "key-3", 6000, &seq), APPEND_RETRY);
    CHECK_INT(seq, 3);
out:
    if (s) s->ops->close(s);
    if (index) index->ops->close(index);
    redis_server_stop(&rs);
}

int main(void)
{
    if (ch_server_start(&server) != 0) {
        fprintf(stderr, "cannot start clickhouse-server\n");
        return 1;
    }
    RUN_TEST(test_url_parsing);
    RUN_TEST(test_schema_sql);
    RUN_TEST(test_conformance);
    RUN_TEST(test_migrate_columns);
    RUN_TEST(test_batching);
    RUN_TEST(test_commit_async);
    RUN_TEST(test_hostile_ids);
    RUN_TEST(test_scan_pages);
    RUN_TEST(test_outage);
    RUN_TEST(test_memory_bound);
    RUN_TEST(test_index_window);
    ch_server_destroy(&server);
    return TEST_EXIT();
}
