/* clickhouse_folds.c: fold tables in ClickHouse, the queryable copy of fold
 * states. Writes are batched rows (ReplacingMergeTree(last_seq): the newest
 * state wins); fold_get reads with FINAL and is meant for tooling. The
 * engine keeps the fold state of record where a fold reads its own last
 * write (Redis): a ClickHouse read may lag a replica or the writer's buffer,
 * which is how the reference system lost fields. */
#include "clickhouse_internal.h"

#include "../engine/diag.h"

#include <stdlib.h>
#include <string.h>

int chfolds_put(es_store *base, const char *tenant_id, const char *table,
                const char *key, const char *state_json, int64_t last_seq,
                int64_t updated_at)
{
    ch_store *s = (ch_store *)base;
    if (chsql_check_table(table) != 0 ||
        chstore_ensure_table(s, table, CLICKHOUSE_TABLE_FOLD) != 0)
        return -1;
    json_buf row;
    jb_init(&row);
    chrow_put_cstr(&row, tenant_id);
    chrow_put_cstr(&row, key);
    chrow_put_cstr(&row, state_json);
    chrow_put_u64(&row, last_seq > 0 ? (uint64_t)last_seq : 0);
    chrow_put_u64(&row, updated_at > 0 ? (uint64_t)updated_at : 0);
    if (row.oom) {
        jb_free(&row);
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    int rc = chwriter_append(s->writer, table, row.data, row.len, 1, NULL);
    jb_free(&row);
    return rc;
}

int chfolds_get(es_store *base, const char *tenant_id, const char *table,
                const char *key, char **state_json, int64_t *last_seq)
{
    ch_store *s = (ch_store *)base;
    *state_json = NULL;
    if (chsql_check_table(table) != 0) return -1;
    if (chwriter_sync(s->writer, table, s->opt.commit_timeout_ms) != 0) return -1;
    json_buf q, resp;
    jb_init(&q);
    jb_init(&resp);
    jb_str(&q, "SELECT state, last_seq FROM ");
    chsql_table(&q, s->conn.database, table);
    jb_str(&q, " FINAL WHERE tenant_id = ");
    chsql_quote(&q, tenant_id);
    jb_str(&q, " AND key = ");
    chsql_quote(&q, key);
    jb_str(&q, " LIMIT 1 FORMAT RowBinary");
    int rc = q.oom ? -1 : chhttp_query(&s->conn, 0, q.data, NULL, 0, &resp);
    jb_free(&q);
    if (rc != 0) {
        jb_free(&resp);
        if (chhttp_error_code() == CH_ERR_UNKNOWN_TABLE) return 1;
        return -1;
    }
    ch_rows r;
    chrows_init(&r, &resp);
    if (!chrows_more(&r)) {
        jb_free(&resp);
        return 1;
    }
    char *state = chrows_str(&r);
    uint64_t seq = chrows_u64(&r);
    jb_free(&resp);
    if (r.err) {
        free(state);
        diag_set(DIAG_BACKEND, "clickhouse: truncated answer reading %s", table);
        return -1;
    }
    *state_json = state;
    if (last_seq) *last_seq = (int64_t)seq;
    return 0;
}
