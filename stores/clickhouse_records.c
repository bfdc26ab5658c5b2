/* clickhouse_records.c: map record tables in ClickHouse. Rows are batched;
 * ReplacingMergeTree(_version) ORDER BY (tenant_id, record_id) with _version
 * = 2^64-1-created_at makes the first append of a record id win, so a
 * redelivered map job (at-least-once) leaves one row. Reads use FINAL. */
#include "clickhouse_internal.h"

#include "../engine/diag.h"

#include <stdlib.h>
#include <string.h>

int chrecords_append(es_store *base, const char *tenant_id, const char *table,
                     const char *record_id, const char *aggregate_id,
                     const char *record_json, int64_t created_at)
{
    ch_store *s = (ch_store *)base;
    if (chsql_check_table(table) != 0 ||
        chstore_ensure_table(s, table, CLICKHOUSE_TABLE_RECORDS) != 0)
        return -1;
    uint64_t created = created_at > 0 ? (uint64_t)created_at : 0;
    json_buf row;
    jb_init(&row);
    chrow_put_cstr(&row, tenant_id);
    chrow_put_cstr(&row, record_id);
    chrow_put_cstr(&row, aggregate_id);
    chrow_put_cstr(&row, record_json);
    chrow_put_u64(&row, created);
    chrow_put_u64(&row, UINT64_MAX - created);
    if (row.oom) {
        jb_free(&row);
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    int rc = chwriter_append(s->writer, table, row.data, row.len, 1, NULL);
    jb_free(&row);
    return rc;
}

int chrecords_list(es_store *base, const char *tenant_id, const char *table,
                   size_t limit, es_record_cb cb, void *ud)
{
    ch_store *s = (ch_store *)base;
    if (chsql_check_table(table) != 0) return -1;
    if (chwriter_sync(s->writer, table, s->opt.commit_timeout_ms) != 0) return -1;
    json_buf q, resp;
    jb_init(&q);
    jb_init(&resp);
    jb_str(&q, "SELECT record_id, aggregate_id, record, created_at FROM ");
    chsql_table(&q, s->conn.database, table);
    jb_str(&q, " FINAL WHERE tenant_id = ");
    chsql_quote(&q, tenant_id);
    jb_str(&q, " ORDER BY created_at, record_id");
    if (limit) jb_printf(&q, " LIMIT %zu", limit);
    jb_str(&q, " FORMAT RowBinary");
    int rc = q.oom ? -1 : chhttp_query(&s->conn, 0, q.data, NULL, 0, &resp);
    jb_free(&q);
    if (rc != 0) {
        jb_free(&resp);
        return chhttp_error_code() == CH_ERR_UNKNOWN_TABLE ? 0 : -1;
    }
    ch_rows r;
    chrows_init(&r, &resp);
    int stop = 0;
    while (rc == 0 && !stop && chrows_more(&r)) {
        char *id = chrows_str(&r);
        char *agg = chrows_str(&r);
        char *rec = chrows_str(&r);
        uint64_t created = chrows_u64(&r);
        if (r.err) {
            diag_set(DIAG_BACKEND, "clickhouse: truncated answer reading %s", table);
            rc = -1;
        } else {
            stop = cb(ud, id, agg, rec, (int64_t)created) != 0;
        }
        free(id);
        free(agg);
        free(rec);
    }
    jb_free(&resp);
    return rc;
}
