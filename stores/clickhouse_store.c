/* clickhouse_store.c: the ClickHouse es_store object: open/close, units of
 * work, the vtable, and on-demand creation of projection tables.
 *
 * Units of work: ClickHouse has no transactions. tx_begin starts tracking
 * the rows the calling thread buffers; tx_commit waits until every one of
 * them is inserted (the batch that holds them was written), so a job is
 * acknowledged only once its rows are durable while inserts stay batched
 * across all threads. tx_rollback cannot take buffered rows back: they are
 * written anyway, which is safe because event ids are deterministic (the
 * retried command sees APPEND_RETRY) and fold/record rows collapse in their
 * ReplacingMergeTree. */
#include "clickhouse_internal.h"

#include "../engine/clock.h"
#include "../engine/diag.h"
#include "../engine/log.h"

#include <stdlib.h>
#include <string.h>

void clickhouse_options_default(clickhouse_options *opt)
{
    opt->flush_rows = 10000;
    opt->flush_ms = 200;
    opt->buffer_bytes = (size_t)64 << 20;
    opt->busy_wait_ms = 100;
    opt->commit_timeout_ms = 30000;
    opt->timeout_ms = 30000;
}

/* How often a lazily opened store that never reached ClickHouse probes it. */
#define PROBE_EVERY_MS 1000

static ch_store *to_ch(es_store *s) { return (ch_store *)s; }

static void ch_close(es_store *base)
{
    ch_store *s = to_ch(base);
    chwriter_free(s->writer);
    chscan_free(s->scan);
    chevents_cache_free(s->events);
    free(s->index_epoch);
    for (size_t i = 0; i < s->n_known; i++) free(s->known_tables[i]);
    free(s->known_tables);
    pthread_mutex_destroy(&s->lock);
    chhttp_conn_free(&s->conn);
    free(s);
}

static int ch_tx_begin(es_store *base)
{
    chwriter_tx_begin(to_ch(base)->writer);
    return 0;
}

static int ch_tx_commit(es_store *base) { return chwriter_tx_wait(to_ch(base)->writer); }

static void ch_tx_rollback(es_store *base) { chwriter_tx_end(to_ch(base)->writer); }

static int ch_tx_commit_async(es_store *base, void (*done)(void *ud, int status), void *ud)
{
    return chwriter_tx_commit_async(to_ch(base)->writer, done, ud);
}

/* 1 until ClickHouse has answered once (a lazily opened store): probed
 * with SELECT 1 at most once per PROBE_EVERY_MS, so that workers started
 * during an outage wait for it instead of failing (and parking) jobs. */
static int ch_unreached(ch_store *s)
{
    if (atomic_load(&s->reached)) return 0;
    int64_t now = clock_monotonic_ms(), last = atomic_load(&s->probed_at);
    if (now - last < PROBE_EVERY_MS || !atomic_compare_exchange_strong(&s->probed_at, &last, now))
        return 1;
    if (chhttp_query(&s->conn, 0, "SELECT 1", NULL, 0, NULL) != 0) {
        log_warn_limited("clickhouse_probe", "clickhouse unreachable; workers wait: %s",
                         diag_message());
        return 1;
    }
    atomic_store(&s->reached, 1);
    return 0;
}

static int ch_busy(es_store *base)
{
    ch_store *s = to_ch(base);
    return ch_unreached(s) || chwriter_busy(s->writer);
}

static const es_store_ops clickhouse_ops = {
    .name = "clickhouse",
    .close = ch_close,
    .tx_begin = ch_tx_begin,
    .tx_commit = ch_tx_commit,
    .tx_rollback = ch_tx_rollback,
    .tx_commit_async = ch_tx_commit_async,
    .busy = ch_busy,
    .event_append = chevents_append,
    .event_read = chevents_read,
    .event_scan = chevents_scan,
    .event_count = chevents_count,
    .fold_get = chfolds_get,
    .fold_put = chfolds_put,
    .fold_drop = chfolds_drop,
    .record_append = chrecords_append,
    .record_list = chrecords_list,
};

int chstore_ensure_table(ch_store *s, const char *name, clickhouse_table_kind kind)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n_known; i++) {
        if (strcmp(s->known_tables[i], name) == 0) {
            pthread_mutex_unlock(&s->lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&s->lock);

    clickhouse_table_def def = {name, kind, NULL, 0};
    char *sql = chschema_table_sql(s->conn.database, NULL, &def);
    if (!sql) return -1;
    int rc = chhttp_query(&s->conn, 0, sql, NULL, 0, NULL);
    free(sql);
    if (rc != 0) {
        diag_prefix("creating table %s", name);
        return -1;
    }
    if (chwriter_table_format(s->writer, name,
                              kind == CLICKHOUSE_TABLE_FOLD ? CHFOLDS_INSERT_TAIL
                                                            : CHRECORDS_INSERT_TAIL) != 0)
        return -1;
    pthread_mutex_lock(&s->lock);
    if (s->n_known == s->cap_known) {
        size_t cap = s->cap_known ? s->cap_known * 2 : 8;
        char **grown = realloc(s->known_tables, cap * sizeof *grown);
        if (grown) {
            s->known_tables = grown;
            s->cap_known = cap;
        }
    }
    char *copy = s->n_known < s->cap_known ? strdup(name) : NULL;
    if (copy) s->known_tables[s->n_known++] = copy;
    pthread_mutex_unlock(&s->lock);
    return 0; /* not remembered on OOM: created again next time, harmless */
}

/* Opens the store; with `probe` first checks that the server answers. */
static es_store *store_open(const char *url, const clickhouse_options *opt, int probe)
{
    ch_store *s = calloc(1, sizeof *s);
    if (!s) {
        diag_set(DIAG_INTERNAL, "out of memory opening the clickhouse store");
        return NULL;
    }
    s->base.ops = &clickhouse_ops;
    s->opt = *opt;
    pthread_mutex_init(&s->lock, NULL);
    if (chhttp_parse_url(url, &s->conn, &s->opt) != 0) goto fail_conn;
    if (probe && chhttp_query(&s->conn, 0, "SELECT 1", NULL, 0, NULL) != 0) {
        diag_prefix("clickhouse_store_open");
        goto fail;
    }
    atomic_init(&s->reached, probe);
    atomic_init(&s->probed_at, 0);
    s->events = chevents_cache_new();
    s->scan = chscan_new(&s->conn);
    if (!s->events || !s->scan) {
        diag_set(DIAG_INTERNAL, "out of memory opening the clickhouse store");
        goto fail;
    }
    s->writer = chwriter_new(&s->conn, &s->opt);
    if (!s->writer) goto fail;
    if (chwriter_table_format(s->writer, "events", CHEVENTS_INSERT_TAIL) != 0) {
        chwriter_free(s->writer);
        goto fail;
    }
    return &s->base;
fail:
    chscan_free(s->scan);
    chevents_cache_free(s->events);
    chhttp_conn_free(&s->conn);
fail_conn:
    pthread_mutex_destroy(&s->lock);
    free(s);
    return NULL;
}

es_store *clickhouse_store_open_opts(const char *url, const clickhouse_options *opt)
{
    return store_open(url, opt, 1);
}

es_store *clickhouse_store_open(const char *url)
{
    clickhouse_options opt;
    clickhouse_options_default(&opt);
    return store_open(url, &opt, 1);
}

es_store *clickhouse_store_open_lazy(const char *url)
{
    clickhouse_options opt;
    clickhouse_options_default(&opt);
    return store_open(url, &opt, 0);
}

void clickhouse_store_stats(es_store *s, clickhouse_stats *out)
{
    chwriter_stats(to_ch(s)->writer, out);
}

int clickhouse_store_commit_async(es_store *s, clickhouse_commit_cb done, void *ud)
{
    return chwriter_tx_commit_async(to_ch(s)->writer, done, ud);
}

int clickhouse_store_busy(es_store *s) { return ch_busy(s); }

int clickhouse_store_sync(es_store *s, int64_t timeout_ms)
{
    return chwriter_sync(to_ch(s)->writer, NULL, timeout_ms);
}
