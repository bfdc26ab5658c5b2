/* sqlite_queue_admin.c: the operator's view of the embedded queue: counts
 * per component, parked groups, retry and skip (dead letters). Not on the
 * hot path: statements are prepared per call. */
#include "sqlite_internal.h"

#include "diag.h"

#include <stdlib.h>

/* A job is in flight when its group is claimed and it is in the claim;
 * delayed when idle but not due (own run_at or the group's ready_at). */
static const char *const SQL_STATS =
    "SELECT pipeline, component, kind,"
    " sum(NOT parked AND NOT in_flight AND NOT later),"
    " sum(NOT parked AND NOT in_flight AND later),"
    " sum(in_flight), sum(parked),"
    " count(DISTINCT CASE WHEN parked THEN group_key END),"
    " min(CASE WHEN NOT parked AND NOT in_flight AND NOT later THEN enqueued_at END)"
    " FROM (SELECT j.pipeline, j.component, j.kind, j.group_key, j.enqueued_at,"
    "   g.parked_at IS NOT NULL AS parked,"
    "   coalesce(g.lease_until IS NOT NULL AND j.pos <= g.claimed_upto, 0) AS in_flight,"
    "   j.run_at > ?1 OR coalesce(g.ready_at, 0) > ?1 AS later"
    "   FROM jobs j JOIN groups g ON g.group_key = j.group_key)"
    " GROUP BY pipeline, component, kind ORDER BY 1, 2, 3";

static const char *const SQL_PARKED_LIST =
    "SELECT g.group_key, g.parked_at,"
    " (SELECT count(*) FROM jobs c WHERE c.group_key = g.group_key), " SQLITE_JOB_COLUMNS_J
    " FROM groups g JOIN jobs j ON j.group_key = g.group_key"
    "   AND j.pos = (SELECT h.pos FROM jobs h"
    "   WHERE h.group_key = g.group_key ORDER BY h.pos LIMIT 1)"
    " WHERE g.parked_at IS NOT NULL AND (?1 IS NULL OR j.tenant_id = ?1)"
    " ORDER BY g.parked_at";

static const char *const SQL_IS_PARKED =
    "SELECT 1 FROM groups WHERE group_key = ?1 AND parked_at IS NOT NULL";

static const char *const SQL_RETRY_HEAD =
    "UPDATE jobs SET attempts = 0, run_at = ?2 WHERE group_key = ?1 AND pos ="
    " (SELECT pos FROM jobs WHERE group_key = ?1 ORDER BY pos LIMIT 1)";

static const char *const SQL_UNPARK =
    "UPDATE groups SET parked_at = NULL, ready_at = ?2 WHERE group_key = ?1";

static const char *const SQL_DEAD_LETTER =
    "INSERT OR REPLACE INTO dead_letters (pos, id, group_key, kind, tenant_id, pipeline,"
    " component, origin_id, attempts, last_error, payload, enqueued_at, dead_at)"
    " SELECT pos, id, group_key, kind, tenant_id, pipeline, component, origin_id,"
    " attempts, last_error, payload, enqueued_at, ?2 FROM jobs"
    " WHERE group_key = ?1 ORDER BY pos LIMIT 1";

static const char *const SQL_DELETE_HEAD =
    "DELETE FROM jobs WHERE group_key = ?1 AND pos ="
    " (SELECT pos FROM jobs WHERE group_key = ?1 ORDER BY pos LIMIT 1)";

static sqlite3_stmt *admin_prepare(sqlite_conn *c, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite_fail(c, "prepare");
        return NULL;
    }
    return st;
}

/* Runs `sql` with (group_key, now) as ?1, ?2; returns 1 when it yielded a
 * row, 0 when not, -1 on error. */
static int admin_run(sqlite_conn *c, const char *sql, const char *group_key, int64_t now)
{
    sqlite3_stmt *st = admin_prepare(c, sql);
    if (!st) return -1;
    sqlite_bind_str(st, 1, group_key);
    if (sqlite3_bind_parameter_count(st) >= 2) sqlite3_bind_int64(st, 2, now);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    return sqlite_fail(c, "queue admin");
}

int sqlite_queue_stats(es_store *base, int64_t now, es_stats_cb cb, void *ud)
{
    sqlite_conn *c = sqlite_conn_get((sqlite_store *)base);
    if (!c) return -1;
    sqlite3_stmt *st = admin_prepare(c, SQL_STATS);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, now);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        es_queue_stats row = {
            .pipeline = (const char *)sqlite3_column_text(st, 0),
            .component = (const char *)sqlite3_column_text(st, 1),
            .kind = (job_kind)sqlite3_column_int(st, 2),
            .pending = sqlite3_column_int64(st, 3),
            .delayed = sqlite3_column_int64(st, 4),
            .in_flight = sqlite3_column_int64(st, 5),
            .parked = sqlite3_column_int64(st, 6),
            .parked_groups = sqlite3_column_int64(st, 7),
            .oldest_pending_at = sqlite3_column_int64(st, 8),
        };
        if (cb(ud, &row) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return sqlite_fail(c, "queue stats");
    return 0;
}

int sqlite_queue_parked_list(es_store *base, const char *tenant_id, es_parked_cb cb,
                             void *ud)
{
    sqlite_conn *c = sqlite_conn_get((sqlite_store *)base);
    if (!c) return -1;
    sqlite3_stmt *st = admin_prepare(c, SQL_PARKED_LIST);
    if (!st) return -1;
    sqlite_bind_str(st, 1, tenant_id);
    int rc, stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        es_job head;
        if (sqlite_job_read(st, 3, &head) != 0) {
            sqlite3_finalize(st);
            return -1;
        }
        es_parked_group g = {
            .group_key = (const char *)sqlite3_column_text(st, 0),
            .tenant_id = head.tenant_id,
            .pipeline = head.pipeline,
            .component = head.component,
            .head = &head,
            .jobs_waiting = sqlite3_column_int64(st, 2),
            .parked_at = sqlite3_column_int64(st, 1),
        };
        stop = cb(ud, &g) != 0;
        job_clear(&head);
    }
    sqlite3_finalize(st);
    if (!stop && rc != SQLITE_DONE) return sqlite_fail(c, "parked list");
    return 0;
}

int sqlite_queue_parked_retry(es_store *base, const char *group_key, int64_t now)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c;
    int own;
    if (sqlite_write_begin(s, &c, &own) != 0) return -1;
    int rc = admin_run(c, SQL_IS_PARKED, group_key, now);
    if (rc == 1) {
        rc = admin_run(c, SQL_RETRY_HEAD, group_key, now);
        if (rc == 0) rc = admin_run(c, SQL_UNPARK, group_key, now);
        if (rc == 0) c->notify = 1;
    } else if (rc == 0) {
        rc = 1;
    }
    return sqlite_write_end(s, c, own, rc < 0 ? -1 : 0) != 0 ? -1 : rc;
}

int sqlite_queue_parked_skip(es_store *base, const char *group_key, int64_t now)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c;
    int own;
    if (sqlite_write_begin(s, &c, &own) != 0) return -1;
    int rc = admin_run(c, SQL_IS_PARKED, group_key, now);
    if (rc == 1) {
        rc = admin_run(c, SQL_DEAD_LETTER, group_key, now);
        if (rc == 0) rc = admin_run(c, SQL_DELETE_HEAD, group_key, now);
        if (rc == 0) rc = sqlite_queue_requeue(c, group_key, now);
    } else if (rc == 0) {
        rc = 1;
    }
    return sqlite_write_end(s, c, own, rc < 0 ? -1 : 0) != 0 ? -1 : rc;
}
