/* sqlite_queue_admin.c: the operator's view of the embedded queue: counts
 * per component, parked groups, retry and skip (dead letters). Not on the
 * hot path: statements are prepared per call (but for the origin count of
 * send --wait, which polls). */
#include "sqlite_internal.h"

#include "diag.h"

#include <stdlib.h>
#include <string.h>

/* Stats come from the queue counts, less the jobs that are not pending:
 * every job of a claimed, parked or later-ready group (few groups; each of
 * their jobs is classified as before: in flight when in the claim, delayed
 * when not due), and the jobs not due in the other groups (jobs_later).
 * The oldest pending job of a ready group is its head, found by walking
 * jobs in position order up to the first one (SQL_STATS_OLDEST). */
static const char *const SQL_STATS_TOTALS =
    "SELECT pipeline, component, kind, jobs FROM queue_counts WHERE jobs > 0"
    " ORDER BY 1, 2, 3";

/* Rows: pipeline, component, kind, parked, in_flight, later, enqueued_at,
 * first (the group's head: counts parked_groups), items */
static const char *const SQL_STATS_SPECIAL =
    "WITH special(group_key) AS ("
    "  SELECT group_key FROM groups WHERE lease_until IS NOT NULL"
    "  UNION ALL SELECT group_key FROM groups WHERE parked_at IS NOT NULL"
    "  UNION ALL SELECT group_key FROM groups WHERE ready_at > ?1)"
    " SELECT j.pipeline, j.component, j.kind, g.parked_at IS NOT NULL,"
    "  coalesce(g.lease_until IS NOT NULL AND j.pos <= g.claimed_upto, 0),"
    "  j.run_at > ?1 OR coalesce(g.ready_at, 0) > ?1, j.enqueued_at,"
    "  j.pos = (SELECT h.pos FROM jobs h WHERE h.gid = j.gid"
    "           ORDER BY h.pos LIMIT 1), j.items"
    " FROM special s JOIN groups g ON g.group_key = s.group_key"
    " JOIN jobs j ON j.gid = g.gid";

static const char *const SQL_STATS_LATER =
    "SELECT j.pipeline, j.component, j.kind, sum(j.items) FROM jobs j"
    " JOIN groups g ON g.group_key = j.group_key"
    " WHERE j.run_at > j.enqueued_at AND j.run_at > ?1 AND g.lease_until IS NULL"
    " AND g.parked_at IS NULL AND coalesce(g.ready_at, 0) <= ?1 GROUP BY 1, 2, 3";

/* The oldest pending job of one (pipeline, component, kind): the first, in
 * queue position (enqueue) order, that heads a group neither claimed nor
 * parked and is due. Walking jobs in position order stops at the first
 * such job (usually near the front), where a min() over the heads of
 * every group read them all (~50 ms at 200,000 queued jobs). */
#define SQL_STATS_OLDEST_WHERE                                                      \
    " WHERE j.pipeline = ?2 AND j.component = ?3 AND j.kind = ?4"                  \
    " AND g.lease_until IS NULL AND g.parked_at IS NULL"                            \
    " AND coalesce(g.ready_at, 0) <= ?1 AND j.run_at <= ?1"                         \
    " AND NOT EXISTS (SELECT 1 FROM jobs h"                                         \
    " WHERE h.gid = j.gid AND h.pos < j.pos)"
static const char *const SQL_STATS_OLDEST_COMMAND =
    "SELECT j.enqueued_at FROM jobs j JOIN groups g ON g.group_key = j.group_key"
    SQL_STATS_OLDEST_WHERE " ORDER BY j.pos LIMIT 1";
/* The other kinds walk jobs_projection, past no command: a status during a
 * backlog of 200,000 commands took 43 ms to date a fold's jobs without it. */
static const char *const SQL_STATS_OLDEST_PROJECTION =
    "SELECT j.enqueued_at FROM jobs j INDEXED BY jobs_projection"
    " JOIN groups g ON g.group_key = j.group_key"
    SQL_STATS_OLDEST_WHERE " AND j.kind <> 1 ORDER BY j.pos LIMIT 1";
static const char *const SQL_PARKED_LIST =
    "SELECT g.group_key, g.parked_at,"
    " (SELECT count(*) FROM jobs c WHERE c.gid = g.gid), "
    SQLITE_JOB_COLUMNS_J " FROM groups g JOIN jobs j ON j.gid = g.gid"
    "   AND j.pos = (SELECT h.pos FROM jobs h"
    "   WHERE h.gid = g.gid ORDER BY h.pos LIMIT 1)"
    " WHERE g.parked_at IS NOT NULL AND (?1 IS NULL OR j.tenant_id = ?1)"
    " ORDER BY g.parked_at";

static const char *const SQL_IS_PARKED =
    "SELECT 1 FROM groups WHERE group_key = ?1 AND parked_at IS NOT NULL";

static const char *const SQL_RETRY_HEAD =
    "UPDATE jobs SET attempts = 0, run_at = ?2 WHERE " SQLITE_JOBS_OF_GROUP("jobs", "?1")
    " AND pos ="
    " (SELECT pos FROM jobs WHERE " SQLITE_JOBS_OF_GROUP("jobs", "?1") " ORDER BY pos LIMIT 1)";

static const char *const SQL_UNPARK =
    "UPDATE groups SET parked_at = NULL, ready_at = ?2 WHERE group_key = ?1";

static const char *const SQL_DEAD_LETTER =
    "INSERT OR REPLACE INTO dead_letters (pos, id, group_key, kind, tenant_id, pipeline,"
    " component, origin_id, attempts, last_error, payload, enqueued_at, dead_at)"
    " SELECT pos, id, group_key, kind, tenant_id, pipeline, component, origin_id,"
    " attempts, last_error, payload, enqueued_at, ?2 FROM jobs"
    " WHERE " SQLITE_JOBS_OF_GROUP("jobs", "?1") " ORDER BY pos LIMIT 1";

static const char *const SQL_UNCOUNT_HEAD =
    "UPDATE queue_counts SET jobs = jobs - h.items FROM"
    " (SELECT pipeline, component, kind, items FROM jobs"
    "  WHERE " SQLITE_JOBS_OF_GROUP("jobs", "?1") " ORDER BY pos LIMIT 1) h"
    " WHERE (queue_counts.pipeline, queue_counts.component, queue_counts.kind) ="
    " (h.pipeline, h.component, h.kind)";

static const char *const SQL_HEAD_HAS_SKIP =
    "SELECT 1 FROM jobs WHERE " SQLITE_JOBS_OF_GROUP("jobs", "?1")
    " AND skip_payload IS NOT NULL AND pos ="
    " (SELECT pos FROM jobs WHERE " SQLITE_JOBS_OF_GROUP("jobs", "?1") " ORDER BY pos LIMIT 1)";

static const char *const SQL_UNCOUNT_ONE =
    "UPDATE queue_counts SET jobs = jobs - 1 WHERE (pipeline, component, kind) ="
    " (SELECT pipeline, component, kind FROM jobs WHERE " SQLITE_JOBS_OF_GROUP("jobs", "?1")
    " ORDER BY pos LIMIT 1)";

/* The head keeps its items but the one that failed. */
static const char *const SQL_SKIP_ITEM =
    "UPDATE jobs SET payload = skip_payload, skip_payload = NULL, items = max(items - 1, 1),"
    " attempts = 0, last_error = NULL, run_at = ?2 WHERE " SQLITE_JOBS_OF_GROUP("jobs", "?1")
    " AND pos ="
    " (SELECT pos FROM jobs WHERE " SQLITE_JOBS_OF_GROUP("jobs", "?1") " ORDER BY pos LIMIT 1)";

static const char *const SQL_DELETE_HEAD =
    "DELETE FROM jobs WHERE " SQLITE_JOBS_OF_GROUP("jobs", "?1") " AND pos ="
    " (SELECT pos FROM jobs WHERE " SQLITE_JOBS_OF_GROUP("jobs", "?1") " ORDER BY pos LIMIT 1)";

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

/* The stats rows being built, one per (pipeline, component, kind). */
typedef struct stats_rows {
    es_queue_stats *rows;
    size_t n;
} stats_rows;

static void stats_rows_free(stats_rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free((char *)r->rows[i].pipeline);
        free((char *)r->rows[i].component);
    }
    free(r->rows);
}

/* The row of the key in columns 0-2 of st; NULL when the counts have none
 * (not expected) or on OOM (*oom set). Rows come sorted from
 * SQL_STATS_TOTALS, so lookups bisect. */
static es_queue_stats *stats_find(stats_rows *r, sqlite3_stmt *st)
{
    const char *p = (const char *)sqlite3_column_text(st, 0);
    const char *c = (const char *)sqlite3_column_text(st, 1);
    int kind = sqlite3_column_int(st, 2);
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        es_queue_stats *row = &r->rows[mid];
        int cmp = strcmp(row->pipeline, p ? p : "");
        if (cmp == 0) cmp = strcmp(row->component, c ? c : "");
        if (cmp == 0) cmp = (int)row->kind - kind;
        if (cmp == 0) return row;
        if (cmp < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static int stats_totals(sqlite_conn *c, stats_rows *r)
{
    sqlite3_stmt *st = admin_prepare(c, SQL_STATS_TOTALS);
    if (!st) return -1;
    int rc, oom = 0;
    size_t cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (r->n == cap) {
            cap = cap ? cap * 2 : 16;
            es_queue_stats *rows = realloc(r->rows, cap * sizeof *rows);
            if (!rows) {
                oom = 1;
                break;
            }
            r->rows = rows;
        }
        es_queue_stats *row = &r->rows[r->n++];
        memset(row, 0, sizeof *row);
        row->pipeline = sqlite_column_dup(st, 0, &oom);
        row->component = sqlite_column_dup(st, 1, &oom);
        row->kind = (job_kind)sqlite3_column_int(st, 2);
        row->pending = sqlite3_column_int64(st, 3); /* less the others, below */
        if (oom) break;
    }
    sqlite3_finalize(st);
    if (oom) {
        diag_set(DIAG_INTERNAL, "out of memory in queue stats");
        return -1;
    }
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sqlite_fail(c, "queue stats");
}

/* Runs one of the per-key statements with ?1 = now, calling `apply`. */
static int stats_apply(sqlite_conn *c, const char *sql, int64_t now, stats_rows *r,
                       void (*apply)(es_queue_stats *row, sqlite3_stmt *st))
{
    sqlite3_stmt *st = admin_prepare(c, sql);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, now);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        es_queue_stats *row = stats_find(r, st);
        if (row) apply(row, st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : sqlite_fail(c, "queue stats");
}

static void stats_special(es_queue_stats *row, sqlite3_stmt *st)
{
    int64_t enqueued_at = sqlite3_column_int64(st, 6);
    int64_t items = sqlite3_column_int64(st, 8);
    if (sqlite3_column_int(st, 3)) {
        row->parked += items;
        if (sqlite3_column_int(st, 7)) row->parked_groups++;
    } else if (sqlite3_column_int(st, 4)) {
        row->in_flight += items;
    } else if (sqlite3_column_int(st, 5)) {
        row->delayed += items;
    } else if (!row->oldest_pending_at || enqueued_at < row->oldest_pending_at) {
        row->oldest_pending_at = enqueued_at;
    }
    if (sqlite3_column_int(st, 3) || sqlite3_column_int(st, 4) || sqlite3_column_int(st, 5))
        row->pending -= items;
}

static void stats_later(es_queue_stats *row, sqlite3_stmt *st)
{
    int64_t n = sqlite3_column_int64(st, 3);
    row->delayed += n;
    row->pending -= n;
}

/* Sets oldest_pending_at of every row with pending jobs. */
static int stats_oldest(sqlite_conn *c, int64_t now, stats_rows *r)
{
    sqlite3_stmt *commands = admin_prepare(c, SQL_STATS_OLDEST_COMMAND);
    sqlite3_stmt *projections = commands ? admin_prepare(c, SQL_STATS_OLDEST_PROJECTION) : NULL;
    if (!projections) {
        sqlite3_finalize(commands);
        return -1;
    }
    int rc = SQLITE_DONE;
    for (size_t i = 0; i < r->n && (rc == SQLITE_DONE || rc == SQLITE_ROW); i++) {
        es_queue_stats *row = &r->rows[i];
        if (row->pending <= 0) continue;
        sqlite3_stmt *st = row->kind == JOB_COMMAND ? commands : projections;
        sqlite3_bind_int64(st, 1, now);
        sqlite_bind_str(st, 2, row->pipeline);
        sqlite_bind_str(st, 3, row->component);
        sqlite3_bind_int(st, 4, (int)row->kind);
        rc = sqlite3_step(st);
        int64_t at = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        if (at && (!row->oldest_pending_at || at < row->oldest_pending_at))
            row->oldest_pending_at = at;
        sqlite3_reset(st);
    }
    sqlite3_finalize(commands);
    sqlite3_finalize(projections);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sqlite_fail(c, "queue stats");
}

int sqlite_queue_stats(es_store *base, int64_t now, es_stats_cb cb, void *ud)
{
    sqlite_conn *c = sqlite_conn_get((sqlite_store *)base);
    if (!c) return -1;
    stats_rows r = {0};
    /* inside the caller's unit, its counts so far are written first */
    if (c == ((sqlite_store *)base)->shared && sqlite_counters_flush(c) != 0) return -1;
    /* one read transaction: the four statements see one snapshot */
    int own = sqlite3_get_autocommit(c->db);
    int rc = own && sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK
                 ? sqlite_fail(c, "queue stats")
                 : 0;
    if (rc == 0) rc = stats_totals(c, &r);
    if (rc == 0) rc = stats_apply(c, SQL_STATS_SPECIAL, now, &r, stats_special);
    if (rc == 0) rc = stats_apply(c, SQL_STATS_LATER, now, &r, stats_later);
    if (rc == 0) rc = stats_oldest(c, now, &r);
    if (own) sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    for (size_t i = 0; rc == 0 && i < r.n; i++)
        if (cb(ud, &r.rows[i]) != 0) break;
    stats_rows_free(&r);
    return rc;
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
        int one_item = rc == 0 ? admin_run(c, SQL_HEAD_HAS_SKIP, group_key, now) : -1;
        if (one_item < 0) rc = -1;
        if (rc == 0 && one_item) {
            rc = admin_run(c, SQL_UNCOUNT_ONE, group_key, now);
            if (rc == 0) rc = admin_run(c, SQL_SKIP_ITEM, group_key, now);
        } else if (rc == 0) {
            rc = admin_run(c, SQL_UNCOUNT_HEAD, group_key, now);
            if (rc == 0) rc = admin_run(c, SQL_DELETE_HEAD, group_key, now);
        }
        if (rc == 0) rc = sqlite_queue_requeue(c, group_key, now);
    } else if (rc == 0) {
        rc = 1;
    }
    return sqlite_write_end(s, c, own, rc < 0 ? -1 : 0) != 0 ? -1 : rc;
}

/* Queued jobs carrying an origin (engine_send_waitable), by kind. */
static const char *const SQL_ORIGIN_COUNT =
    "SELECT kind, count(*) FROM jobs WHERE origin_id = ?1 GROUP BY kind";

int sqlite_queue_origin_pending(es_store *base, const char *origin_id,
                                unsigned kind_mask, int64_t *count)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c = sqlite_shared_lock(s);
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_ORIGIN_COUNT, SQL_ORIGIN_COUNT);
    if (!st) {
        sqlite_shared_unlock(s);
        return -1;
    }
    sqlite_bind_str(st, 1, origin_id);
    int64_t total = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int kind = sqlite3_column_int(st, 0);
        if (kind >= 0 && kind < 32 && (kind_mask & (1u << kind)))
            total += sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    rc = rc == SQLITE_DONE ? 0 : sqlite_fail(c, "origin count");
    sqlite_shared_unlock(s);
    if (rc == 0) *count = total;
    return rc;
}
