/* sqlite_pause.c: the kill switch of the embedded store. Pauses are rows of
 * `pauses`; a claim that meets a ready group covered by one takes the group
 * out of the ready index (ready_at NULL, listed in paused_groups), so a
 * paused backlog costs one step per group, not one per claim. A resume
 * deletes the pauses and puts every held group back at its head's run_at
 * (order kept); a group still covered by another pause is held again by
 * the next claim. Layout: sqlite_schema.c. */
#include "sqlite_internal.h"

#include "diag.h"

#include <stdlib.h>
#include <string.h>

/* The unary + keeps component and tenant_id out of the index lookup: as
 * IN ('', ?n) (what SQLite makes of the ORs) each run built two ephemeral
 * tables, 5% of a worker's CPU when every claim is of a one-job group.
 * The pipeline's few pauses are read in place instead. */
static const char *const SQL_PAUSE_COVERS =
    "SELECT 1 FROM pauses WHERE pipeline = ?1 AND (+component = '' OR +component = ?2)"
    " AND (+tenant_id = '' OR +tenant_id = ?3) LIMIT 1";

static const char *const SQL_PAUSE_UNREADY =
    "UPDATE groups SET ready_at = NULL WHERE group_key = ?1";

static const char *const SQL_PAUSE_MARK =
    "INSERT OR IGNORE INTO paused_groups (group_key) VALUES (?1)";

static const char *const SQL_PAUSE_PUT =
    "INSERT INTO pauses (pipeline, component, tenant_id, mode, paused_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (pipeline, component, tenant_id)"
    " DO UPDATE SET mode = excluded.mode";

static const char *const SQL_PAUSE_DELETE =
    "DELETE FROM pauses WHERE pipeline = ?1 AND (?2 IS NULL OR component = ?2)"
    " AND (?3 IS NULL OR tenant_id = ?3)";

/* Held groups go back to the ready index at their head's run_at. */
static const char *const SQL_PAUSE_RELEASE =
    "UPDATE groups SET ready_at = coalesce((SELECT j.run_at FROM jobs j"
    "   WHERE j.gid = groups.gid ORDER BY j.pos LIMIT 1), ?1)"
    " WHERE group_key IN (SELECT group_key FROM paused_groups)"
    " AND ready_at IS NULL AND lease_until IS NULL AND parked_at IS NULL";

static const char *const SQL_PAUSE_FORGET = "DELETE FROM paused_groups";

static const char *const SQL_PAUSE_CHECK =
    "SELECT max(mode) FROM pauses WHERE pipeline = ?1"
    " AND (?2 IS NULL OR +component = '' OR +component = ?2)"
    " AND (+tenant_id = '' OR +tenant_id = ?3)"; /* + as in SQL_PAUSE_COVERS */

static const char *const SQL_PAUSE_LIST =
    "SELECT pipeline, component, tenant_id, mode, paused_at FROM pauses"
    " ORDER BY pipeline, component, tenant_id";

/* Binds a span as text (not copied). */
static void pause_bind_span(sqlite3_stmt *st, int idx, store_span s)
{
    sqlite3_bind_text(st, idx, s.p, (int)s.n, SQLITE_STATIC);
}

int sqlite_pause_hold(sqlite_conn *c, const char *group)
{
    store_span scope[3];
    if (store_group_scope(group, scope) != 0) return 0;
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_PAUSE_COVERS, SQL_PAUSE_COVERS);
    if (!st) return -1;
    pause_bind_span(st, 1, scope[1]);
    pause_bind_span(st, 2, scope[2]);
    pause_bind_span(st, 3, scope[0]);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) return 0;
    if (rc != SQLITE_ROW) return sqlite_fail(c, "pause check");
    const sqlite_stmt_id ids[2] = {SQ_PAUSE_UNREADY, SQ_PAUSE_MARK};
    const char *const sqls[2] = {SQL_PAUSE_UNREADY, SQL_PAUSE_MARK};
    for (int i = 0; i < 2; i++) {
        st = sqlite_conn_stmt(c, ids[i], sqls[i]);
        if (!st) return -1;
        sqlite_bind_str(st, 1, group);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) return sqlite_fail(c, "pause hold");
    }
    return 1;
}

/* Runs a one-off statement with the given text bindings (NULL binds NULL)
 * and an optional int64 at index n_text + 1; returns sqlite3_changes or -1. */
static int pause_exec(sqlite_conn *c, const char *sql, const char *const *text,
                      int n_text, const int64_t *num, int n_num)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sqlite_fail(c, "pause prepare");
    for (int i = 0; i < n_text; i++) sqlite_bind_str(st, i + 1, text[i]);
    for (int i = 0; i < n_num; i++) sqlite3_bind_int64(st, n_text + i + 1, num[i]);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return sqlite_fail(c, "pause write");
    return sqlite3_changes(c->db);
}

int sqlite_pause_set(es_store *base, const char *tenant_id, const char *pipeline,
                     const char *component, pause_mode mode, int64_t now)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c;
    int own;
    if (!pipeline || !*pipeline) {
        diag_set(DIAG_INVALID, "pause: a pipeline is required");
        return -1;
    }
    if (sqlite_write_begin(s, &c, &own) != 0) return -1;
    int rc;
    if (mode != PAUSE_NONE) {
        const char *text[3] = {pipeline, component ? component : "",
                               tenant_id ? tenant_id : ""};
        int64_t num[2] = {(int64_t)mode, now};
        rc = pause_exec(c, SQL_PAUSE_PUT, text, 3, num, 2) < 0 ? -1 : 0;
    } else {
        const char *text[3] = {pipeline, component, tenant_id};
        int deleted = pause_exec(c, SQL_PAUSE_DELETE, text, 3, NULL, 0);
        rc = deleted < 0 ? -1 : 0;
        if (rc == 0 && pause_exec(c, SQL_PAUSE_RELEASE, NULL, 0, &now, 1) < 0) rc = -1;
        if (rc == 0 && pause_exec(c, SQL_PAUSE_FORGET, NULL, 0, NULL, 0) < 0) rc = -1;
        if (rc == 0) c->notify = 1;
        if (rc == 0 && deleted == 0) rc = 1;
    }
    int end = sqlite_write_end(s, c, own, rc < 0 ? -1 : 0);
    return end != 0 ? -1 : rc;
}

int sqlite_pause_check(es_store *base, const char *tenant_id, const char *pipeline,
                       const char *component, pause_mode *mode)
{
    sqlite_conn *c = sqlite_conn_get((sqlite_store *)base);
    if (!c) return -1;
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_PAUSE_CHECK, SQL_PAUSE_CHECK);
    if (!st) return -1;
    sqlite_bind_str(st, 1, pipeline);
    sqlite_bind_str(st, 2, component);
    sqlite_bind_str(st, 3, tenant_id ? tenant_id : "");
    int rc = sqlite3_step(st);
    *mode = rc == SQLITE_ROW ? (pause_mode)sqlite3_column_int(st, 0) : PAUSE_NONE;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : sqlite_fail(c, "pause check");
}

int sqlite_pause_list(es_store *base, es_pause_cb cb, void *ud)
{
    sqlite_conn *c = sqlite_conn_get((sqlite_store *)base);
    if (!c) return -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, SQL_PAUSE_LIST, -1, &st, NULL) != SQLITE_OK)
        return sqlite_fail(c, "pause list");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *component = (const char *)sqlite3_column_text(st, 1);
        const char *tenant = (const char *)sqlite3_column_text(st, 2);
        es_pause p = {
            .pipeline = (const char *)sqlite3_column_text(st, 0),
            .component = component && *component ? component : NULL,
            .tenant_id = tenant && *tenant ? tenant : NULL,
            .mode = (pause_mode)sqlite3_column_int(st, 3),
            .paused_at = sqlite3_column_int64(st, 4),
        };
        if (cb(ud, &p) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : sqlite_fail(c, "pause list");
}
