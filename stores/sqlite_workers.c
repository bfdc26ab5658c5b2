/* sqlite_workers.c: the worker registry of the embedded store: one row of
 * `workers` per engine process (layout: sqlite_schema.c), replaced by each
 * beat; listing ages the rows (store_worker_age_state) and deletes those
 * old enough to prune. Statements are prepared per call: a beat comes once
 * a second per process. */
#include "sqlite_internal.h"

#include "diag.h"

#include <stdlib.h>

static const char *const SQL_WORKER_PUT =
    "INSERT OR REPLACE INTO workers (id, host, pid, role, threads, jobs_done,"
    " jobs_per_s, generation, started_at, lease_ms, last_beat)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

static const char *const SQL_WORKER_LIST =
    "SELECT id, host, pid, role, threads, jobs_done, jobs_per_s, generation,"
    " started_at, lease_ms, last_beat FROM workers ORDER BY id";

static const char *const SQL_WORKER_DELETE = "DELETE FROM workers WHERE id = ?1";

int sqlite_worker_beat(es_store *base, const es_worker_info *w, int64_t now)
{
    sqlite_store *s = (sqlite_store *)base;
    if (!w->id || !*w->id) {
        diag_set(DIAG_INVALID, "worker beat: an id is required");
        return -1;
    }
    sqlite_conn *c;
    int own;
    if (sqlite_write_begin(s, &c, &own) != 0) return -1;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(c->db, SQL_WORKER_PUT, -1, &st, NULL) != SQLITE_OK) {
        sqlite_fail(c, "worker beat prepare");
    } else {
        sqlite_bind_str(st, 1, w->id);
        sqlite_bind_str(st, 2, w->host ? w->host : "");
        sqlite3_bind_int64(st, 3, w->pid);
        sqlite_bind_str(st, 4, w->role ? w->role : "");
        sqlite3_bind_int(st, 5, w->threads);
        sqlite3_bind_int64(st, 6, w->jobs_done);
        sqlite3_bind_double(st, 7, w->jobs_per_s);
        sqlite_bind_str(st, 8, w->generation ? w->generation : "");
        sqlite3_bind_int64(st, 9, w->started_at);
        sqlite3_bind_int64(st, 10, w->lease_ms);
        sqlite3_bind_int64(st, 11, now);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sqlite_fail(c, "worker beat");
    }
    sqlite3_finalize(st);
    return sqlite_write_end(s, c, own, rc);
}

/* Deletes the row of a pruned worker (its own small write). */
static int worker_prune(sqlite_store *s, const char *id)
{
    sqlite_conn *c;
    int own;
    if (sqlite_write_begin(s, &c, &own) != 0) return -1;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(c->db, SQL_WORKER_DELETE, -1, &st, NULL) != SQLITE_OK) {
        sqlite_fail(c, "worker prune prepare");
    } else {
        sqlite_bind_str(st, 1, id);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sqlite_fail(c, "worker prune");
    }
    sqlite3_finalize(st);
    return sqlite_write_end(s, c, own, rc);
}

int sqlite_worker_list(es_store *base, int64_t now, es_worker_cb cb, void *ud)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c = sqlite_conn_get(s);
    if (!c) return -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, SQL_WORKER_LIST, -1, &st, NULL) != SQLITE_OK)
        return sqlite_fail(c, "worker list");
    /* Pruned ids are collected while reading and deleted after, so the
     * read statement is finished before the write. */
    char **pruned = NULL;
    size_t n_pruned = 0;
    int rc, stopped = 0, failed = 0;
    while (!stopped && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        es_worker_info w = {
            .id = (const char *)sqlite3_column_text(st, 0),
            .host = (const char *)sqlite3_column_text(st, 1),
            .pid = sqlite3_column_int64(st, 2),
            .role = (const char *)sqlite3_column_text(st, 3),
            .threads = sqlite3_column_int(st, 4),
            .jobs_done = sqlite3_column_int64(st, 5),
            .jobs_per_s = sqlite3_column_double(st, 6),
            .generation = (const char *)sqlite3_column_text(st, 7),
            .started_at = sqlite3_column_int64(st, 8),
            .lease_ms = sqlite3_column_int64(st, 9),
            .last_beat = sqlite3_column_int64(st, 10),
        };
        int state = store_worker_age_state(w.last_beat, w.lease_ms, now);
        if (state == 2) {
            int oom = 0;
            char **grown = realloc(pruned, (n_pruned + 1) * sizeof *pruned);
            if (grown) pruned = grown;
            char *id = grown ? sqlite_column_dup(st, 0, &oom) : NULL;
            if (!id) {
                diag_set(DIAG_INTERNAL, "out of memory listing workers");
                failed = 1;
                break;
            }
            pruned[n_pruned++] = id;
            continue;
        }
        w.lost = state;
        stopped = cb(ud, &w) != 0;
    }
    if (!failed && !stopped && rc != SQLITE_DONE) failed = sqlite_fail(c, "worker list") != 0;
    sqlite3_finalize(st);
    for (size_t i = 0; i < n_pruned; i++) {
        if (!failed && worker_prune(s, pruned[i]) != 0) failed = 1;
        free(pruned[i]);
    }
    free(pruned);
    return failed ? -1 : 0;
}
