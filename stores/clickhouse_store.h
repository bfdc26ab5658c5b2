/* clickhouse_store.h: the ClickHouse backend (HTTP interface, libcurl): the
 * event log, queryable fold tables and map record tables, written through a
 * batched writer, plus the schema migration used by `esengine migrate`.
 *
 * URL: http://[user[:password]@]host[:port][/database][?option=value&...]
 * (port 8123 and database "default" when omitted; user and password are
 * percent-decoded). Options (all optional, also settable in
 * clickhouse_options): flush_rows, flush_ms, buffer_mb, busy_wait_ms,
 * commit_timeout_ms, timeout_ms. */
#ifndef ES_CLICKHOUSE_STORE_H
#define ES_CLICKHOUSE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Writer and connection tuning; clickhouse_options_default fills defaults. */
typedef struct clickhouse_options {
    size_t flush_rows;         /* flush a table's buffer at this many rows (10000) */
    int64_t flush_ms;          /* ... or when its oldest row is this old (200) */
    size_t buffer_bytes;       /* memory bound of all buffered rows (64 MiB) */
    int64_t busy_wait_ms;      /* an append blocks this long on a full buffer,
                                  then fails with DIAG_BUSY (100) */
    int64_t commit_timeout_ms; /* tx_commit waits this long for its rows (30000) */
    int64_t timeout_ms;        /* per HTTP request (30000) */
} clickhouse_options;

/* Fills `opt` with the defaults above (no allocation, cannot fail). */
void clickhouse_options_default(clickhouse_options *opt);

/* Opens the store for `url` (see above) with default options overridden by
 * the URL's query string. Checks that the server answers (SELECT 1); does
 * not create anything (run clickhouse_migrate first; projection tables
 * unknown to the migration are created on first write). Implements the event
 * log, fold store (the queryable copy) and record store kinds; the queue
 * kind is NULL. tx_commit waits until every row the calling thread wrote
 * since tx_begin is inserted. Returns the store (caller closes it with
 * ops->close, which flushes what is buffered), or NULL with a diag:
 * DIAG_INVALID for a bad URL, DIAG_IO when the server is unreachable,
 * DIAG_BACKEND when it answers with an error. */
es_store *clickhouse_store_open(const char *url);

/* Same, but sends nothing to ClickHouse at open: the first read or write
 * that needs the server is where an outage shows (DIAG_IO), so a process
 * that only enqueues (`esengine send`) works while ClickHouse is down.
 * Until ClickHouse has answered once, ops->busy probes it (at most once a
 * second) and reports 1 while it does not answer, so workers wait.
 * NULL with DIAG_INVALID for a bad URL (or DIAG_INTERNAL on OOM). */
es_store *clickhouse_store_open_lazy(const char *url);

/* Same as clickhouse_store_open, with explicit options (URL options still
 * override them). */
es_store *clickhouse_store_open_opts(const char *url, const clickhouse_options *opt);

/* Commits the calling thread's unit of work (begun with ops->tx_begin)
 * without waiting: done(ud, 0) is called once every row it wrote is
 * inserted, from the writer's thread (keep it short: hand the
 * acknowledgement to a queue), or at once from the caller when nothing is
 * pending; done(ud, -1) at close for rows that could not be written. Called
 * exactly once. This lets a worker acknowledge jobs when their rows are
 * durable while it claims more work, instead of blocking up to flush_ms in
 * tx_commit. 0, or -1 with a diag (done is then not called). */
typedef void (*clickhouse_commit_cb)(void *ud, int status);
int clickhouse_store_commit_async(es_store *s, clickhouse_commit_cb done, void *ud);

/* Writer counters of a store opened by clickhouse_store_open. */
typedef struct clickhouse_stats {
    uint64_t inserts;        /* successful INSERT requests */
    uint64_t rows_inserted;  /* rows in them */
    uint64_t insert_errors;  /* failed INSERT attempts (retried) */
    size_t buffered_bytes;   /* rows waiting or in flight now */
    size_t buffered_rows;
} clickhouse_stats;

/* Fills *out (a snapshot; no allocation). */
void clickhouse_store_stats(es_store *s, clickhouse_stats *out);

/* 1 when the writer's buffers are at least three quarters full (ClickHouse
 * slow) or its last INSERT into some table failed and is being retried
 * (ClickHouse down or refusing), or a lazily opened store has not reached
 * ClickHouse yet: the engine stops claiming new work until
 * it is 0 (es_store_ops.busy; engine/worker.c checks it before each claim).
 * Claims already running finish or wait in tx_commit; nothing is dropped. */
int clickhouse_store_busy(es_store *s);

/* Makes event appends assign seqs and dedupe through the event index of
 * `index` (a queue store implementing event_index_*, store.h; it must
 * outlive this store) instead of a point query to ClickHouse per aggregate
 * and append: the index of this database is used when its marker is there,
 * and created when the event log is empty. Without a trusted index (none
 * yet over a non-empty log, or lost later) appends keep asking ClickHouse.
 * Nothing is read here: the index is adopted by the first event append
 * (which fails with the diag of ClickHouse or the index when that cannot
 * be done, and is retried by its job). 0 (cannot fail). */
int clickhouse_store_use_index(es_store *s, es_store *index);

/* Flushes every buffered row now and waits until all rows appended before
 * the call are inserted (or timeout_ms passes: -1 with DIAG_TIMEOUT). */
int clickhouse_store_sync(es_store *s, int64_t timeout_ms);

/* ---- schema ---- */

/* One typed column of a projection table, computed by ClickHouse from the
 * state (fold) or record (map) JSON: name and ClickHouse type, one of
 * UInt8/16/32/64, Int8/16/32/64, Float32/64, String, Bool (stored UInt8). */
typedef struct clickhouse_column {
    const char *name;
    const char *type;
} clickhouse_column;

typedef enum { CLICKHOUSE_TABLE_FOLD = 1, CLICKHOUSE_TABLE_RECORDS = 2 } clickhouse_table_kind;

/* One projection table as declared by es.stores.table(name, {columns=...}). */
typedef struct clickhouse_table_def {
    const char *name;  /* [A-Za-z_][A-Za-z0-9_]*, not "events"/"schema_version" */
    clickhouse_table_kind kind;
    const clickhouse_column *columns;
    size_t n_columns;
} clickhouse_table_def;

/* The current schema version recorded by clickhouse_migrate. */
#define CLICKHOUSE_SCHEMA_VERSION 1

/* Builds the SQL statements that create the schema of `database` with the
 * projection tables `tables`: the database, schema_version, the event log
 * and one table per definition, all idempotent (IF NOT EXISTS). With a
 * `cluster` name (NULL for none) every statement carries ON CLUSTER and the
 * engines are Replicated* with the usual {shard}/{replica} macros. On success
 * returns 0 and *out is a malloc'd array of *n malloc'd strings (free with
 * clickhouse_sql_free); -1 with DIAG_INVALID for a bad name or type. */
int clickhouse_schema_sql(const char *database, const char *cluster,
                          const clickhouse_table_def *tables, size_t n_tables,
                          char ***out, size_t *n);
/* Frees what clickhouse_schema_sql returned. */
void clickhouse_sql_free(char **sql, size_t n);

/* Creates or upgrades the schema at `url` (database from the URL): runs
 * clickhouse_schema_sql, adds typed columns a projection table lacks, and
 * records CLICKHOUSE_SCHEMA_VERSION in schema_version. Idempotent. 0, or -1
 * with a diag naming the statement that failed (server message included). */
int clickhouse_migrate(const char *url, const char *cluster,
                       const clickhouse_table_def *tables, size_t n_tables);

#endif
