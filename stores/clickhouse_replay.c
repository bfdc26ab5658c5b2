/* clickhouse_replay.c: what a replay needs from ClickHouse: the event log
 * read in ordered keyset pages, its size, and projection rows dropped (the
 * shadow of a fold's queryable copy; fold_mirror.c).
 *
 * A scan page is one query: the events of `aggregate_type` after the cursor
 * (tenant, aggregate), ORDER BY (tenant_id, aggregate_id, seq) LIMIT BY
 * (tenant_id, aggregate_id, seq) 1 (rows repeated by a retried insert, not
 * yet merged by the ReplacingMergeTree, are read once, as event_read does)
 * LIMIT page. The cursor is a range on the primary key's prefix, so a page
 * reads the granules from the cursor on; the sort is a partial (top-N)
 * sort of what follows it, cheap next to reading the data column.
 *
 * --since selects the aggregates with an event created at or after it and
 * reads their whole history (a fold needs it all): an IN subquery on
 * created_at, which prunes the monthly partitions (PARTITION BY month of
 * created_at) through their min/max index, so only recent months are
 * searched for the aggregates to rebuild. */
#include "clickhouse_internal.h"

#include "../engine/diag.h"

#include <stdlib.h>
#include <string.h>

/* Appends the filter shared by scan and count: aggregate type, tenant, and
 * the aggregates touched since since_ms. */
static void scan_filter(json_buf *q, const ch_store *s, const char *tenant_id,
                        const char *aggregate_type, int64_t since_ms)
{
    jb_str(q, " WHERE aggregate_type = ");
    chsql_quote(q, aggregate_type);
    if (tenant_id) {
        jb_str(q, " AND tenant_id = ");
        chsql_quote(q, tenant_id);
    }
    if (since_ms <= 0) return;
    jb_str(q, " AND (tenant_id, aggregate_id) IN (SELECT tenant_id, aggregate_id FROM ");
    chsql_table(q, s->conn.database, "events");
    jb_str(q, " WHERE aggregate_type = ");
    chsql_quote(q, aggregate_type);
    if (tenant_id) {
        jb_str(q, " AND tenant_id = ");
        chsql_quote(q, tenant_id);
    }
    jb_printf(q, " AND created_at >= %lld)", (long long)since_ms);
}

/* Runs `q` (freed) into `resp`. 0 or -1 with a diag prefixed by `what`. */
static int run_query(ch_store *s, json_buf *q, json_buf *resp, const char *what)
{
    int rc = q->oom ? (diag_set(DIAG_INTERNAL, "out of memory"), -1)
                    : chhttp_query(&s->conn, 0, q->data, NULL, 0, resp);
    jb_free(q);
    if (rc != 0) diag_prefix("%s", what);
    return rc;
}

int chevents_scan(es_store *base, const char *tenant_id, const char *aggregate_type,
                  const char *after_tenant, const char *after_aggregate,
                  int64_t since_ms, size_t limit, es_event_cb cb, void *ud)
{
    ch_store *s = (ch_store *)base;
    const char *at = after_tenant ? after_tenant : "";
    const char *aa = after_aggregate ? after_aggregate : "";
    if (tenant_id && *at && strcmp(at, tenant_id) != 0) return 0; /* past the only tenant */
    if (chwriter_sync(s->writer, "events", s->opt.commit_timeout_ms) != 0) return -1;
    json_buf q, resp;
    jb_init(&q);
    jb_init(&resp);
    jb_str(&q, "SELECT " CHEVENTS_COLUMNS " FROM ");
    chsql_table(&q, s->conn.database, "events");
    scan_filter(&q, s, tenant_id, aggregate_type, since_ms);
    if (*at || *aa) {
        jb_str(&q, " AND (tenant_id > ");
        chsql_quote(&q, at);
        jb_str(&q, " OR (tenant_id = ");
        chsql_quote(&q, at);
        jb_str(&q, " AND aggregate_id > ");
        chsql_quote(&q, aa);
        jb_str(&q, "))");
    }
    jb_str(&q, " ORDER BY tenant_id, aggregate_id, seq LIMIT 1 BY tenant_id, aggregate_id, seq");
    if (limit) jb_printf(&q, " LIMIT %zu", limit);
    jb_str(&q, " FORMAT RowBinary");
    if (run_query(s, &q, &resp, "event_scan") != 0) {
        jb_free(&resp);
        return -1;
    }
    int rc = chevents_deliver(&resp, cb, ud);
    jb_free(&resp);
    return rc;
}

int chevents_count(es_store *base, const char *tenant_id, const char *aggregate_type,
                   int64_t since_ms, int64_t *count)
{
    ch_store *s = (ch_store *)base;
    *count = 0;
    if (chwriter_sync(s->writer, "events", s->opt.commit_timeout_ms) != 0) return -1;
    json_buf q, resp;
    jb_init(&q);
    jb_init(&resp);
    /* distinct (tenant, aggregate, seq): unmerged repeated rows count once */
    jb_str(&q, "SELECT toUInt64(uniqExact(tenant_id, aggregate_id, seq)) FROM ");
    chsql_table(&q, s->conn.database, "events");
    scan_filter(&q, s, tenant_id, aggregate_type, since_ms);
    jb_str(&q, " FORMAT RowBinary");
    if (run_query(s, &q, &resp, "event_count") != 0) {
        jb_free(&resp);
        return -1;
    }
    ch_rows r;
    chrows_init(&r, &resp);
    uint64_t n = chrows_u64(&r);
    jb_free(&resp);
    if (r.err) {
        diag_set(DIAG_BACKEND, "clickhouse: bad answer counting events");
        return -1;
    }
    *count = (int64_t)n;
    return 0;
}

/* A mutation (ALTER TABLE … DELETE): applied in the background to the parts
 * that exist when it is issued, so the table's buffered rows are flushed
 * first and rows inserted afterwards are never touched by it. */
int chfolds_drop(es_store *base, const char *tenant_id, const char *table, const char *key)
{
    ch_store *s = (ch_store *)base;
    if (chsql_check_table(table) != 0) return -1;
    if (chwriter_sync(s->writer, table, s->opt.commit_timeout_ms) != 0) return -1;
    json_buf q;
    jb_init(&q);
    jb_str(&q, "ALTER TABLE ");
    chsql_table(&q, s->conn.database, table);
    jb_str(&q, " DELETE WHERE 1");
    if (tenant_id) {
        jb_str(&q, " AND tenant_id = ");
        chsql_quote(&q, tenant_id);
    }
    if (key) {
        jb_str(&q, " AND key = ");
        chsql_quote(&q, key);
    }
    int rc = q.oom ? (diag_set(DIAG_INTERNAL, "out of memory"), -1)
                   : chhttp_query(&s->conn, 0, q.data, NULL, 0, NULL);
    jb_free(&q);
    if (rc != 0 && chhttp_error_code() == CH_ERR_UNKNOWN_TABLE) return 0; /* nothing to drop */
    if (rc != 0) diag_prefix("fold_drop %s", table);
    return rc;
}
