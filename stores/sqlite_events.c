/* sqlite_events.c: the event log of the embedded store (append with per-
 * aggregate seq and idempotency, tenant-scoped reads). */
#include "sqlite_internal.h"

#include "diag.h"

#include <string.h>

/* INSERT OR IGNORE: any unique conflict (id or idempotency key) stores
 * nothing and returns no row. ?12 is the seq: the aggregate's last seq + 1,
 * read once per run of events of one aggregate in an append call
 * (SQL_EVENT_LAST_SEQ, inside the write transaction) and counted on. */
static const char *const SQL_EVENT_INSERT =
    "INSERT OR IGNORE INTO events (id, tenant_id, aggregate_type, aggregate_id, seq,"
    " type, version, occurred_at, created_at, idempotency_key, data, metadata)"
    " VALUES (?1, ?2, ?3, ?4, ?12, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

static const char *const SQL_EVENT_LAST_SEQ =
    "SELECT seq FROM events WHERE tenant_id = ?1 AND aggregate_type = ?2"
    " AND aggregate_id = ?3 ORDER BY seq DESC LIMIT 1";

static const char *const SQL_EVENT_BY_ID =
    "SELECT seq, created_at FROM events WHERE id = ?1";

static const char *const SQL_EVENT_READ =
    "SELECT " SQLITE_EVENT_COLUMNS " FROM events"
    " WHERE tenant_id = ?1 AND aggregate_type = ?2 AND aggregate_id = ?3 AND seq > ?4"
    " ORDER BY seq LIMIT ?5";

void sqlite_event_row(sqlite3_stmt *st, es_event *ev)
{
    *ev = (es_event){
        .id = (char *)sqlite3_column_text(st, 0),
        .tenant_id = (char *)sqlite3_column_text(st, 1),
        .aggregate_type = (char *)sqlite3_column_text(st, 2),
        .aggregate_id = (char *)sqlite3_column_text(st, 3),
        .seq = sqlite3_column_int64(st, 4),
        .type = (char *)sqlite3_column_text(st, 5),
        .version = (char *)sqlite3_column_text(st, 6),
        .occurred_at = sqlite3_column_int64(st, 7),
        .created_at = sqlite3_column_int64(st, 8),
        .idempotency_key = (char *)sqlite3_column_text(st, 9),
        .data_json = (char *)sqlite3_column_text(st, 10),
        .metadata_json = (char *)sqlite3_column_text(st, 11),
    };
}

/* The last seq of ev's aggregate into *seq (0 when it has no event). */
static int events_last_seq(sqlite_conn *c, const es_event *ev, int64_t *seq)
{
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_EVENT_LAST_SEQ, SQL_EVENT_LAST_SEQ);
    if (!st) return -1;
    sqlite_bind_str(st, 1, ev->tenant_id);
    sqlite_bind_str(st, 2, ev->aggregate_type);
    sqlite_bind_str(st, 3, ev->aggregate_id);
    int rc = sqlite3_step(st);
    *seq = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sqlite_fail(c, "event last seq");
    return 0;
}

int sqlite_event_last_seq(es_store *base, const char *tenant_id, const char *aggregate_type,
                          const char *aggregate_id, int64_t *seq)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c = sqlite_shared_lock(s);
    es_event ev = {.tenant_id = (char *)tenant_id,
                   .aggregate_type = (char *)aggregate_type,
                   .aggregate_id = (char *)aggregate_id};
    int rc = events_last_seq(c, &ev, seq);
    sqlite_shared_unlock(s);
    return rc;
}

static int same_aggregate(const es_event *a, const es_event *b)
{
    return strcmp(a->aggregate_id, b->aggregate_id) == 0 &&
           strcmp(a->aggregate_type, b->aggregate_type) == 0 &&
           strcmp(a->tenant_id, b->tenant_id) == 0;
}

/* Appends one event as seq *last + 1 (*last moves on when it is stored);
 * fills outcome, seq and created_at. */
static int events_append_one(sqlite_conn *c, es_event *ev, int64_t now, int64_t *last,
                             append_outcome *outcome)
{
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_EVENT_INSERT, SQL_EVENT_INSERT);
    if (!st) return -1;
    /* a key equal to the id (the worker's default) is stored as none:
     * the id's own uniqueness dedupes such an event (sqlite_schema.c) */
    const char *ikey = ev->idempotency_key && strcmp(ev->idempotency_key, ev->id) != 0
                           ? ev->idempotency_key
                           : NULL;
    sqlite_bind_str(st, 1, ev->id);
    sqlite_bind_str(st, 2, ev->tenant_id);
    sqlite_bind_str(st, 3, ev->aggregate_type);
    sqlite_bind_str(st, 4, ev->aggregate_id);
    sqlite_bind_str(st, 5, ev->type);
    sqlite_bind_str(st, 6, ev->version ? ev->version : "");
    sqlite3_bind_int64(st, 7, ev->occurred_at);
    sqlite3_bind_int64(st, 8, now);
    sqlite_bind_str(st, 9, ikey);
    sqlite_bind_str(st, 10, ev->data_json ? ev->data_json : "{}");
    sqlite_bind_str(st, 11, ev->metadata_json ? ev->metadata_json : "{}");
    sqlite3_bind_int64(st, 12, *last + 1);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return sqlite_fail(c, "event append");
    if (sqlite3_changes(c->db) > 0) {
        ev->seq = ++*last;
        ev->created_at = now;
        *outcome = APPEND_NEW;
    }
    if (*outcome == APPEND_NEW) return 0;

    st = sqlite_conn_stmt(c, SQ_EVENT_BY_ID, SQL_EVENT_BY_ID);
    if (!st) return -1;
    sqlite_bind_str(st, 1, ev->id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        ev->seq = sqlite3_column_int64(st, 0);
        ev->created_at = sqlite3_column_int64(st, 1);
        *outcome = APPEND_RETRY;
    } else if (rc == SQLITE_DONE) {
        *outcome = APPEND_DUPLICATE;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sqlite_fail(c, "event lookup");
    return 0;
}

int sqlite_event_append(es_store *base, es_event *events, size_t n, int64_t now,
                        append_outcome *outcomes)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite_conn *c;
    int own;
    if (sqlite_write_begin(s, &c, &own) != 0) return -1;
    int rc = 0;
    int64_t last = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!events[i].id || !events[i].tenant_id || !events[i].aggregate_type ||
            !events[i].aggregate_id || !events[i].type) {
            diag_set(DIAG_INVALID, "event append: id, tenant, aggregate and type are required");
            rc = -1;
            break;
        }
        outcomes[i] = 0;
        if (i == 0 || !same_aggregate(&events[i - 1], &events[i]))
            rc = events_last_seq(c, &events[i], &last);
        if (rc == 0) rc = events_append_one(c, &events[i], now, &last, &outcomes[i]);
    }
    return sqlite_write_end(s, c, own, rc);
}

int sqlite_event_read(es_store *base, const char *tenant_id, const char *aggregate_type,
                      const char *aggregate_id, int64_t after_seq, size_t limit,
                      es_event_cb cb, void *ud)
{
    sqlite_conn *c = sqlite_conn_get((sqlite_store *)base);
    if (!c) return -1;
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_EVENT_READ, SQL_EVENT_READ);
    if (!st) return -1;
    sqlite_bind_str(st, 1, tenant_id);
    sqlite_bind_str(st, 2, aggregate_type);
    sqlite_bind_str(st, 3, aggregate_id);
    sqlite3_bind_int64(st, 4, after_seq);
    sqlite3_bind_int64(st, 5, limit ? (int64_t)limit : -1);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        es_event ev;
        sqlite_event_row(st, &ev);
        if (cb(ud, &ev) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return sqlite_fail(c, "event read");
    return 0;
}
