/* sqlite_folds.c: fold states (state + last applied seq per tenant, table,
 * key) and map records (deduplicated by table and record id) of the
 * embedded store. */
#include "sqlite_internal.h"

#include "diag.h"

#include <stdlib.h>

static const char *const SQL_FOLD_GET =
    "SELECT state_json, last_seq FROM fold_states"
    " WHERE tenant_id = ?1 AND table_name = ?2 AND key = ?3";

static const char *const SQL_FOLD_PUT =
    "INSERT INTO fold_states (tenant_id, table_name, key, state_json, last_seq, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant_id, table_name, key) DO UPDATE"
    " SET state_json = excluded.state_json, last_seq = excluded.last_seq,"
    " updated_at = excluded.updated_at";

static const char *const SQL_RECORD_INSERT =
    "INSERT OR IGNORE INTO records (table_name, record_id, tenant_id, aggregate_id,"
    " record_json, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

static const char *const SQL_RECORD_LIST =
    "SELECT record_id, aggregate_id, record_json, created_at FROM records"
    " WHERE tenant_id = ?1 AND table_name = ?2 ORDER BY rowid LIMIT ?3";

/* On the shared connection: a fold reads its state right before its unit
 * of work writes it, from the warm cache. */
int sqlite_fold_get(es_store *base, const char *tenant_id, const char *table,
                    const char *key, char **state_json, int64_t *last_seq)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c = sqlite_shared_lock(s);
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_FOLD_GET, SQL_FOLD_GET);
    if (!st) {
        sqlite_shared_unlock(s);
        return -1;
    }
    sqlite_bind_str(st, 1, tenant_id);
    sqlite_bind_str(st, 2, table);
    sqlite_bind_str(st, 3, key);
    int rc = sqlite3_step(st), oom = 0;
    if (rc == SQLITE_ROW) {
        *state_json = sqlite_column_dup(st, 0, &oom);
        *last_seq = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) sqlite_fail(c, "fold get");
    sqlite_shared_unlock(s);
    if (rc == SQLITE_DONE) return 1;
    if (rc != SQLITE_ROW) return -1;
    if (oom || !*state_json) {
        free(*state_json);
        *state_json = NULL;
        diag_set(DIAG_INTERNAL, "out of memory reading a fold state");
        return -1;
    }
    return 0;
}

int sqlite_fold_put(es_store *base, const char *tenant_id, const char *table,
                    const char *key, const char *state_json, int64_t last_seq,
                    int64_t updated_at)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c;
    int own;
    if (sqlite_write_begin(s, &c, &own) != 0) return -1;
    int rc = -1;
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_FOLD_PUT, SQL_FOLD_PUT);
    if (st) {
        sqlite_bind_str(st, 1, tenant_id);
        sqlite_bind_str(st, 2, table);
        sqlite_bind_str(st, 3, key);
        sqlite_bind_str(st, 4, state_json);
        sqlite3_bind_int64(st, 5, last_seq);
        sqlite3_bind_int64(st, 6, updated_at);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sqlite_fail(c, "fold put");
        sqlite3_reset(st);
    }
    return sqlite_write_end(s, c, own, rc);
}

int sqlite_record_append(es_store *base, const char *tenant_id, const char *table,
                         const char *record_id, const char *aggregate_id,
                         const char *record_json, int64_t created_at)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c;
    int own;
    if (sqlite_write_begin(s, &c, &own) != 0) return -1;
    int rc = -1;
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_RECORD_INSERT, SQL_RECORD_INSERT);
    if (st) {
        sqlite_bind_str(st, 1, table);
        sqlite_bind_str(st, 2, record_id);
        sqlite_bind_str(st, 3, tenant_id);
        sqlite_bind_str(st, 4, aggregate_id ? aggregate_id : "");
        sqlite_bind_str(st, 5, record_json);
        sqlite3_bind_int64(st, 6, created_at);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sqlite_fail(c, "record append");
        sqlite3_reset(st);
    }
    return sqlite_write_end(s, c, own, rc);
}

int sqlite_record_list(es_store *base, const char *tenant_id, const char *table,
                       size_t limit, es_record_cb cb, void *ud)
{
    sqlite_conn *c = sqlite_conn_get((sqlite_store *)base);
    if (!c) return -1;
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_RECORD_LIST, SQL_RECORD_LIST);
    if (!st) return -1;
    sqlite_bind_str(st, 1, tenant_id);
    sqlite_bind_str(st, 2, table);
    sqlite3_bind_int64(st, 3, limit ? (int64_t)limit : -1);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cb(ud, (const char *)sqlite3_column_text(st, 0),
               (const char *)sqlite3_column_text(st, 1),
               (const char *)sqlite3_column_text(st, 2), sqlite3_column_int64(st, 3)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return sqlite_fail(c, "record list");
    return 0;
}
