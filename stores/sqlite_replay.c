/* sqlite_replay.c: what a replay needs from the embedded store: ordered
 * range scans of the event log, fold tables scanned, swapped and dropped as
 * a whole, and the replay checkpoint. Not on the hot path: statements are
 * prepared per call (a scan call reads a large page). */
#include "sqlite_internal.h"

#include "diag.h"

#include <stdlib.h>
#include <string.h>

/* Aggregates touched since ?4: their newest event is recent enough. */
#define SINCE_FILTER                                                            \
    " AND (?4 = 0 OR (SELECT l.created_at FROM events l WHERE"                  \
    " l.tenant_id = e.tenant_id AND l.aggregate_type = e.aggregate_type AND"    \
    " l.aggregate_id = e.aggregate_id ORDER BY l.seq DESC LIMIT 1) >= ?4)"

/* The rest of one tenant after aggregate ?3 (an index range). */
static const char *const SQL_SCAN_IN_TENANT =
    "SELECT " SQLITE_EVENT_COLUMNS " FROM events e WHERE tenant_id = ?1 AND"
    " aggregate_type = ?2 AND aggregate_id > ?3" SINCE_FILTER
    " ORDER BY aggregate_id, seq LIMIT ?5";

/* Every tenant after ?1 (?3 is not used). */
static const char *const SQL_SCAN_NEXT_TENANTS =
    "SELECT " SQLITE_EVENT_COLUMNS " FROM events e WHERE tenant_id > ?1 AND"
    " aggregate_type = ?2" SINCE_FILTER
    " ORDER BY tenant_id, aggregate_id, seq LIMIT ?5";

static const char *const SQL_COUNT =
    "SELECT count(*) FROM events e WHERE (?1 IS NULL OR tenant_id = ?1) AND"
    " aggregate_type = ?2" SINCE_FILTER;

static const char *const SQL_FOLD_SCAN =
    "SELECT tenant_id, key, state_json, last_seq FROM fold_states"
    " WHERE table_name = ?1 AND (?2 IS NULL OR tenant_id = ?2) ORDER BY tenant_id, key";

static const char *const SQL_FOLD_DROP =
    "DELETE FROM fold_states WHERE table_name = ?1 AND (?2 IS NULL OR tenant_id = ?2)"
    " AND (?3 IS NULL OR key = ?3)";

static const char *const SQL_FOLD_DROP_SHADOWED =
    "DELETE FROM fold_states WHERE table_name = ?1 AND (?2 IS NULL OR tenant_id = ?2)"
    " AND (?3 IS NULL OR key = ?3) AND EXISTS (SELECT 1 FROM fold_states h"
    " WHERE h.table_name = ?4 AND h.tenant_id = fold_states.tenant_id"
    " AND h.key = fold_states.key)";

static const char *const SQL_FOLD_RENAME =
    "UPDATE fold_states SET table_name = ?1 WHERE table_name = ?4"
    " AND (?2 IS NULL OR tenant_id = ?2) AND (?3 IS NULL OR key = ?3)";

static const char *const SQL_CHECKPOINT_GET =
    "SELECT tenant_id, after_tenant, after_aggregate, events_done, started_at, paused_fold"
    " FROM replay_checkpoints WHERE pipeline = ?1 AND projection = ?2";

static const char *const SQL_CHECKPOINT_PUT =
    "INSERT OR REPLACE INTO replay_checkpoints (pipeline, projection, tenant_id,"
    " after_tenant, after_aggregate, events_done, started_at, paused_fold)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

static const char *const SQL_CHECKPOINT_DELETE =
    "DELETE FROM replay_checkpoints WHERE pipeline = ?1 AND projection = ?2";

static sqlite3_stmt *replay_prepare(sqlite_conn *c, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite_fail(c, "replay prepare");
        return NULL;
    }
    return st;
}

/* Steps a scan statement, calling cb per row. *n counts rows; *stopped is
 * set when cb asked to stop. 0 or -1. */
static int replay_scan_rows(sqlite_conn *c, sqlite3_stmt *st, es_event_cb cb, void *ud,
                            size_t *n, int *stopped)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        es_event ev;
        sqlite_event_row(st, &ev);
        (*n)++;
        if (cb(ud, &ev) != 0) {
            *stopped = 1;
            return 0;
        }
    }
    return rc == SQLITE_DONE ? 0 : sqlite_fail(c, "event scan");
}

int sqlite_event_scan(es_store *base, const char *tenant_id, const char *aggregate_type,
                      const char *after_tenant, const char *after_aggregate,
                      int64_t since_ms, size_t limit, es_event_cb cb, void *ud)
{
    sqlite_conn *c = sqlite_conn_get((sqlite_store *)base);
    if (!c) return -1;
    const char *tenant = tenant_id ? tenant_id : after_tenant ? after_tenant : "";
    const char *after = after_aggregate ? after_aggregate : "";
    if (tenant_id && after_tenant && *after_tenant && strcmp(after_tenant, tenant_id) != 0)
        return 0; /* the cursor is past the only tenant */
    size_t n = 0;
    int stopped = 0;
    int64_t left = limit ? (int64_t)limit : -1;
    /* the rest of the cursor's tenant, then (all tenants) the next ones */
    for (int pass = 0; pass < 2 && !stopped && (left < 0 || (int64_t)n < left); pass++) {
        if (pass == 1 && tenant_id) break;
        sqlite3_stmt *st = replay_prepare(c, pass == 0 ? SQL_SCAN_IN_TENANT
                                                       : SQL_SCAN_NEXT_TENANTS);
        if (!st) return -1;
        sqlite_bind_str(st, 1, tenant);
        sqlite_bind_str(st, 2, aggregate_type);
        sqlite_bind_str(st, 3, after);
        sqlite3_bind_int64(st, 4, since_ms);
        sqlite3_bind_int64(st, 5, left < 0 ? -1 : left - (int64_t)n);
        int rc = replay_scan_rows(c, st, cb, ud, &n, &stopped);
        sqlite3_finalize(st);
        if (rc != 0) return -1;
    }
    return 0;
}

int sqlite_event_count(es_store *base, const char *tenant_id, const char *aggregate_type,
                       int64_t since_ms, int64_t *count)
{
    sqlite_conn *c = sqlite_conn_get((sqlite_store *)base);
    if (!c) return -1;
    sqlite3_stmt *st = replay_prepare(c, SQL_COUNT);
    if (!st) return -1;
    sqlite_bind_str(st, 1, tenant_id);
    sqlite_bind_str(st, 2, aggregate_type);
    sqlite3_bind_int64(st, 4, since_ms);
    int rc = sqlite3_step(st);
    *count = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : sqlite_fail(c, "event count");
}

int sqlite_fold_scan(es_store *base, const char *tenant_id, const char *table,
                     es_fold_cb cb, void *ud)
{
    sqlite_conn *c = sqlite_conn_get((sqlite_store *)base);
    if (!c) return -1;
    sqlite3_stmt *st = replay_prepare(c, SQL_FOLD_SCAN);
    if (!st) return -1;
    sqlite_bind_str(st, 1, table);
    sqlite_bind_str(st, 2, tenant_id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cb(ud, (const char *)sqlite3_column_text(st, 0),
               (const char *)sqlite3_column_text(st, 1),
               (const char *)sqlite3_column_text(st, 2), sqlite3_column_int64(st, 3)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : sqlite_fail(c, "fold scan");
}

/* Runs a fold-table write with (table, tenant, key, shadow) bound. */
static int replay_fold_write(sqlite_conn *c, const char *sql, const char *table,
                             const char *tenant_id, const char *key, const char *shadow)
{
    sqlite3_stmt *st = replay_prepare(c, sql);
    if (!st) return -1;
    sqlite_bind_str(st, 1, table);
    sqlite_bind_str(st, 2, tenant_id);
    sqlite_bind_str(st, 3, key);
    if (shadow) sqlite_bind_str(st, 4, shadow);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : sqlite_fail(c, "fold table write");
}

int sqlite_fold_swap(es_store *base, const char *tenant_id, const char *table,
                     const char *shadow, const char *key, int only_shadowed)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c;
    int own;
    if (sqlite_write_begin(s, &c, &own) != 0) return -1;
    int rc = only_shadowed
                 ? replay_fold_write(c, SQL_FOLD_DROP_SHADOWED, table, tenant_id, key, shadow)
                 : replay_fold_write(c, SQL_FOLD_DROP, table, tenant_id, key, NULL);
    if (rc == 0) rc = replay_fold_write(c, SQL_FOLD_RENAME, table, tenant_id, key, shadow);
    return sqlite_write_end(s, c, own, rc);
}

int sqlite_fold_drop(es_store *base, const char *tenant_id, const char *table,
                     const char *key)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c;
    int own;
    if (sqlite_write_begin(s, &c, &own) != 0) return -1;
    int rc = replay_fold_write(c, SQL_FOLD_DROP, table, tenant_id, key, NULL);
    return sqlite_write_end(s, c, own, rc);
}

int sqlite_replay_checkpoint_get(es_store *base, const char *pipeline,
                                 const char *projection, es_replay_checkpoint *out)
{
    memset(out, 0, sizeof *out);
    sqlite_conn *c = sqlite_conn_get((sqlite_store *)base);
    if (!c) return -1;
    sqlite3_stmt *st = replay_prepare(c, SQL_CHECKPOINT_GET);
    if (!st) return -1;
    sqlite_bind_str(st, 1, pipeline);
    sqlite_bind_str(st, 2, projection);
    int rc = sqlite3_step(st), oom = 0;
    if (rc == SQLITE_ROW) {
        out->tenant_id = sqlite_column_dup(st, 0, &oom);
        out->after_tenant = sqlite_column_dup(st, 1, &oom);
        out->after_aggregate = sqlite_column_dup(st, 2, &oom);
        out->events_done = sqlite3_column_int64(st, 3);
        out->started_at = sqlite3_column_int64(st, 4);
        out->paused_fold = sqlite3_column_int(st, 5);
    }
    sqlite3_finalize(st);
    if (oom) {
        store_replay_checkpoint_clear(out);
        diag_set(DIAG_INTERNAL, "out of memory reading a replay checkpoint");
        return -1;
    }
    if (rc == SQLITE_DONE) return 1;
    return rc == SQLITE_ROW ? 0 : sqlite_fail(c, "replay checkpoint");
}

int sqlite_replay_checkpoint_put(es_store *base, const char *pipeline,
                                 const char *projection, const es_replay_checkpoint *cp)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c;
    int own;
    if (sqlite_write_begin(s, &c, &own) != 0) return -1;
    sqlite3_stmt *st = replay_prepare(c, cp ? SQL_CHECKPOINT_PUT : SQL_CHECKPOINT_DELETE);
    int rc = -1;
    if (st) {
        sqlite_bind_str(st, 1, pipeline);
        sqlite_bind_str(st, 2, projection);
        if (cp) {
            sqlite_bind_str(st, 3, cp->tenant_id ? cp->tenant_id : "");
            sqlite_bind_str(st, 4, cp->after_tenant ? cp->after_tenant : "");
            sqlite_bind_str(st, 5, cp->after_aggregate ? cp->after_aggregate : "");
            sqlite3_bind_int64(st, 6, cp->events_done);
            sqlite3_bind_int64(st, 7, cp->started_at);
            sqlite3_bind_int(st, 8, cp->paused_fold);
        }
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sqlite_fail(c, "replay checkpoint");
        sqlite3_finalize(st);
    }
    return sqlite_write_end(s, c, own, rc);
}
