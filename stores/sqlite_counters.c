/* sqlite_counters.c: the queue's counters as one write transaction of the
 * shared connection sees them. The next queue position, the next claim
 * token and the queued-item counts per (pipeline, component, kind) are
 * read on first use in a transaction, kept in memory while it runs and
 * written once, just before its COMMIT (sqlite_counters_flush); a rollback
 * drops them. Every enqueue, claim and completion used to write them
 * itself (an UPDATE ... RETURNING per enqueue call was a third of the
 * cost of enqueueing one command). The write lock is held from the first
 * read to the COMMIT, so no other process sees or moves them meanwhile. */
#include "sqlite_internal.h"

#include "diag.h"

#include <stdlib.h>
#include <string.h>

static const char *const SQL_COUNTERS_READ =
    "SELECT pos, token FROM queue_counters WHERE id = 1";

static const char *const SQL_COUNTERS_WRITE =
    "UPDATE queue_counters SET pos = ?1, token = ?2 WHERE id = 1";

static const char *const SQL_COUNT_ADD =
    "INSERT INTO queue_counts (pipeline, component, kind, jobs) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT (pipeline, component, kind) DO UPDATE SET jobs = jobs + excluded.jobs";

/* Reads pos and token into the cache unless this transaction already did. */
static int counters_load(sqlite_conn *c)
{
    if (c->counters.loaded) return 0;
    sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_COUNTERS_READ, SQL_COUNTERS_READ);
    if (!st) return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        c->counters.pos = c->counters.pos_written = sqlite3_column_int64(st, 0);
        c->counters.token = c->counters.token_written = sqlite3_column_int64(st, 1);
        c->counters.loaded = 1;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE) diag_set(DIAG_BACKEND, "sqlite: queue_counters has no row");
        return rc == SQLITE_DONE ? -1 : sqlite_fail(c, "read queue counters");
    }
    return 0;
}

int sqlite_counters_positions(sqlite_conn *c, size_t n, int64_t *before)
{
    if (counters_load(c) != 0) return -1;
    *before = c->counters.pos;
    c->counters.pos += (int64_t)n;
    return 0;
}

int sqlite_counters_token(sqlite_conn *c, int64_t *token)
{
    if (counters_load(c) != 0) return -1;
    *token = ++c->counters.token;
    return 0;
}

int sqlite_counters_count_add(sqlite_conn *c, const char *pipeline, const char *component,
                              int kind, int64_t delta)
{
    sqlite_count_delta *d = c->counters.deltas;
    for (size_t i = 0; i < c->counters.n_deltas; i++)
        if (d[i].kind == kind && strcmp(d[i].pipeline, pipeline) == 0 &&
            strcmp(d[i].component, component) == 0) {
            d[i].delta += delta;
            return 0;
        }
    if (c->counters.n_deltas == c->counters.cap_deltas) {
        size_t cap = c->counters.cap_deltas ? c->counters.cap_deltas * 2 : 8;
        d = realloc(d, cap * sizeof *d);
        if (!d) {
            diag_set(DIAG_INTERNAL, "out of memory counting queued jobs");
            return -1;
        }
        c->counters.deltas = d;
        c->counters.cap_deltas = cap;
    }
    sqlite_count_delta *nd = &d[c->counters.n_deltas];
    nd->pipeline = strdup(pipeline);
    nd->component = strdup(component);
    if (!nd->pipeline || !nd->component) {
        free(nd->pipeline);
        free(nd->component);
        diag_set(DIAG_INTERNAL, "out of memory counting queued jobs");
        return -1;
    }
    nd->kind = kind;
    nd->delta = delta;
    c->counters.n_deltas++;
    return 0;
}

int sqlite_counters_flush(sqlite_conn *c)
{
    int rc = 0;
    if (c->counters.loaded && (c->counters.pos != c->counters.pos_written ||
                               c->counters.token != c->counters.token_written)) {
        sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_COUNTERS_WRITE, SQL_COUNTERS_WRITE);
        if (!st) return -1;
        sqlite3_bind_int64(st, 1, c->counters.pos);
        sqlite3_bind_int64(st, 2, c->counters.token);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) return sqlite_fail(c, "write queue counters");
        c->counters.pos_written = c->counters.pos;
        c->counters.token_written = c->counters.token;
        rc = 0;
    }
    sqlite_count_delta *d = c->counters.deltas;
    size_t i = 0;
    for (; i < c->counters.n_deltas && rc == 0; i++) {
        if (d[i].delta == 0) continue;
        sqlite3_stmt *st = sqlite_conn_stmt(c, SQ_COUNT_ADD, SQL_COUNT_ADD);
        if (!st) return -1;
        sqlite_bind_str(st, 1, d[i].pipeline);
        sqlite_bind_str(st, 2, d[i].component);
        sqlite3_bind_int(st, 3, d[i].kind);
        sqlite3_bind_int64(st, 4, d[i].delta);
        int step = sqlite3_step(st);
        sqlite3_reset(st);
        if (step != SQLITE_DONE) return sqlite_fail(c, "queue count");
        d[i].delta = 0;
    }
    return rc;
}

void sqlite_counters_end(sqlite_conn *c)
{
    for (size_t i = 0; i < c->counters.n_deltas; i++) {
        free(c->counters.deltas[i].pipeline);
        free(c->counters.deltas[i].component);
    }
    c->counters.n_deltas = 0;
    c->counters.loaded = 0;
}

void sqlite_counters_free(sqlite_conn *c)
{
    sqlite_counters_end(c);
    free(c->counters.deltas);
    c->counters.deltas = NULL;
    c->counters.cap_deltas = 0;
}
