/* clickhouse_internal.h: what the clickhouse_*.c files share: the parsed
 * connection, SQL literal quoting and RowBinary decoding, the batched writer,
 * schema statements, and the store object itself. Not for use outside
 * stores/clickhouse_*.c. */
#ifndef ES_CLICKHOUSE_INTERNAL_H
#define ES_CLICKHOUSE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "../engine/json_buf.h"
#include "clickhouse_store.h"

/* ---- clickhouse_http.c ---- */

/* A parsed URL: where to send requests and as whom. Strings owned. */
typedef struct ch_conn {
    char *base_url;  /* "http://host:port/" */
    char *user;      /* NULL: server default */
    char *password;
    char *database;
    int64_t timeout_ms;
} ch_conn;

/* Parses `url` into `conn` and applies its query-string options to `opt`.
 * 0, or -1 with DIAG_INVALID naming the bad part. */
int chhttp_parse_url(const char *url, ch_conn *conn, clickhouse_options *opt);
void chhttp_conn_free(ch_conn *conn);

/* Runs one statement over HTTP with the calling thread's curl handle. With
 * `body` (INSERT data) the statement travels in the URL and `body` is
 * posted; otherwise the statement is the posted body. With use_db the
 * request runs in conn->database. The response is appended to `out` (may be
 * NULL). 0, or -1 with DIAG_IO (unreachable, timeout) or DIAG_BACKEND (the
 * server's error message); chhttp_error_code() then gives ClickHouse's
 * numeric error code (0 when none). */
int chhttp_query(const ch_conn *conn, int use_db, const char *sql,
                 const char *body, size_t body_len, json_buf *out);
int chhttp_error_code(void);

/* ClickHouse error codes the store reacts to. */
#define CH_ERR_UNKNOWN_TABLE 60
#define CH_ERR_UNKNOWN_DATABASE 81

/* ---- clickhouse_sql.c ---- */

/* Appends `s` as a single-quoted SQL string literal: quote, backslash and
 * every control byte escaped, other bytes verbatim. */
void chsql_quote(json_buf *b, const char *s);
/* Appends `db`.`name` (names are validated before reaching SQL). */
void chsql_table(json_buf *b, const char *db, const char *name);
/* 1 when `name` is [A-Za-z_][A-Za-z0-9_]{0,63}. */
int chsql_valid_name(const char *name);
/* 0 when `table` may name a projection table (a valid name, not one of the
 * event log's tables); -1 with DIAG_INVALID otherwise. */
int chsql_check_table(const char *table);

/* A cursor over a RowBinary response. `err` is set on truncated input. */
typedef struct ch_rows {
    const unsigned char *p, *end;
    int err;
} ch_rows;

void chrows_init(ch_rows *r, const json_buf *response);
int chrows_more(const ch_rows *r);
uint64_t chrows_u64(ch_rows *r);
uint8_t chrows_u8(ch_rows *r);
/* A String column as a malloc'd NUL-terminated copy (NULL on error). */
char *chrows_str(ch_rows *r);
/* A String column in place: its bytes (not NUL-terminated) and *len, or
 * NULL on error. */
const char *chrows_span(ch_rows *r, size_t *len);

/* Appends a UInt64 column (8 bytes, little-endian) / a String column (its
 * length as a LEB128 varint, then its bytes) of a RowBinary row. */
void chrow_put_u64(json_buf *b, uint64_t v);
void chrow_put_str(json_buf *b, const char *s, size_t len);
/* chrow_put_str of a C string (NULL as ""). */
void chrow_put_cstr(json_buf *b, const char *s);

/* ---- clickhouse_writer.c ---- */

typedef struct chwriter chwriter;

/* Which batch of which table a row went into; durable once that batch is. */
typedef struct chwriter_ticket {
    size_t table;
    uint64_t batch;
} chwriter_ticket;

/* Starts the flusher thread. NULL with a diag on failure. `conn` must
 * outlive the writer. */
chwriter *chwriter_new(const ch_conn *conn, const clickhouse_options *opt);

/* Flushes what is buffered (retrying while the server is down, for at most
 * commit_timeout_ms; rows still unwritten then are logged as lost), stops
 * the thread and frees everything. */
void chwriter_free(chwriter *w);

/* Sets what follows "INSERT INTO `db`.`table`" in the INSERTs of `table`
 * (copied): its column list and format. Before the table's first append.
 * 0, or -1 with a diag on OOM. */
int chwriter_table_format(chwriter *w, const char *table, const char *insert_tail);

/* Buffers `n_rows` rows (`rows`, `len` bytes) for `table`, in the format
 * chwriter_table_format set (DIAG_INTERNAL when none), all or nothing.
 * Blocks up to busy_wait_ms while the
 * buffers are full, then fails with DIAG_BUSY. On success fills *ticket (may
 * be NULL) and, when the calling thread is inside chwriter_tx_begin for this
 * writer, remembers the ticket for chwriter_tx_wait. */
int chwriter_append(chwriter *w, const char *table, const char *rows, size_t len,
                    size_t n_rows, chwriter_ticket *ticket);

/* 1 when the batch of `ticket` is inserted. */
int chwriter_durable(chwriter *w, chwriter_ticket ticket);

/* Starts tracking the calling thread's appends; chwriter_tx_wait waits for
 * them (DIAG_TIMEOUT after commit_timeout_ms) and stops tracking;
 * chwriter_tx_end stops tracking without waiting. */
void chwriter_tx_begin(chwriter *w);
int chwriter_tx_wait(chwriter *w);

/* Ends the unit of work without waiting: done(ud, 0) runs once its rows are
 * inserted (on the flusher thread, or at once in the caller when nothing is
 * pending), done(ud, -1) at close for rows that never were. Exactly once;
 * 0, or -1 with a diag (then done is not called). */
typedef void (*chwriter_done_cb)(void *ud, int status);
int chwriter_tx_commit_async(chwriter *w, chwriter_done_cb done, void *ud);
void chwriter_tx_end(chwriter *w);

/* Flushes `table` (NULL = every table) now and waits until every row
 * appended to it before the call is inserted, at most timeout_ms. */
int chwriter_sync(chwriter *w, const char *table, int64_t timeout_ms);

void chwriter_stats(chwriter *w, clickhouse_stats *out);
int chwriter_busy(chwriter *w);

/* ---- clickhouse_schema.c ---- */

/* The CREATE TABLE IF NOT EXISTS statement of one projection table (no
 * cluster), malloc'd; NULL with DIAG_INVALID for a bad definition. */
char *chschema_table_sql(const char *database, const char *cluster,
                         const clickhouse_table_def *def);

/* ---- clickhouse_store.c: the store object ---- */

typedef struct chevents_cache chevents_cache;
typedef struct chscan chscan;

typedef struct ch_store {
    es_store base;
    ch_conn conn;
    clickhouse_options opt;
    chwriter *writer;
    pthread_mutex_t lock;  /* guards known_tables and the index's adoption */
    char **known_tables;   /* projection tables created or seen this process */
    size_t n_known, cap_known;
    chevents_cache *events;
    es_store *index;       /* the event index (clickhouse_store_use_index) */
    char *index_epoch;     /* its epoch, set once by the first append */
    atomic_int index_pending; /* 1 until the first append adopted the index */
    atomic_int index_ok;   /* 1 while the index is trusted */
    chscan *scan;          /* the replay scan's plan and prefetched page */
    atomic_int reached;    /* ClickHouse answered once (ops->busy probes it) */
    _Atomic int64_t probed_at; /* monotonic ms of the last probe */
} ch_store;

/* Makes sure projection table `name` of `kind` exists (CREATE TABLE IF NOT
 * EXISTS once per process and table), its writer format set (RowBinary,
 * CHFOLDS_INSERT_TAIL or CHRECORDS_INSERT_TAIL). 0 or -1 with a diag. */
int chstore_ensure_table(ch_store *s, const char *name, clickhouse_table_kind kind);

/* ---- clickhouse_events.c, clickhouse_folds.c, clickhouse_records.c ----
 * The vtable entries of the store: contracts as in store.h. The events cache
 * is owned by the store (new at open, freed at close; NULL on OOM). */

chevents_cache *chevents_cache_new(void);
void chevents_cache_free(chevents_cache *c);
int chevents_append(es_store *s, es_event *events, size_t n, int64_t now,
                    append_outcome *outcomes);
int chevents_read(es_store *s, const char *tenant_id, const char *aggregate_type,
                  const char *aggregate_id, int64_t after_seq, size_t limit,
                  es_event_cb cb, void *ud);

/* The columns of an event read, in the order chevents_deliver decodes. */
#define CHEVENTS_COLUMNS                                                        \
    "id, tenant_id, aggregate_type, aggregate_id, seq, type, version,"         \
    " occurred_at, created_at, idempotency_key, data, metadata"

/* What follows "INSERT INTO" the event log in the writer's INSERTs, and
 * one row of them for ev (RowBinary, as every table the writer fills:
 * nothing to escape, and ClickHouse parses it for a fraction of the CPU
 * of JSONEachRow). */
#define CHEVENTS_INSERT_TAIL                                                     \
    " (tenant_id, aggregate_type, aggregate_id, seq, id, type, version,"         \
    " occurred_at, created_at, idempotency_key, data, metadata) FORMAT RowBinary"
void chevents_row(json_buf *b, const es_event *ev);

/* The same for fold tables (chfolds_put's rows) and record tables
 * (chrecords_append's); their typed columns are MATERIALIZED from the
 * JSON by ClickHouse. */
#define CHFOLDS_INSERT_TAIL " (tenant_id, key, state, last_seq, updated_at) FORMAT RowBinary"
#define CHRECORDS_INSERT_TAIL                                                     \
    " (tenant_id, record_id, aggregate_id, record, created_at, _version) FORMAT RowBinary"

/* Decodes one RowBinary row of CHEVENTS_COLUMNS at r into ev, its strings
 * copied into `scratch` (reset first): ev is valid until scratch changes
 * and is never cleared. 0, or -1 with DIAG_BACKEND on a truncated row
 * (DIAG_INTERNAL on OOM). */
int chevents_decode(ch_rows *r, es_event *ev, json_buf *scratch);

/* Decodes a RowBinary answer of CHEVENTS_COLUMNS rows and calls cb per
 * event until it returns nonzero. 0, or -1 with DIAG_BACKEND on a
 * truncated answer. */
int chevents_deliver(const json_buf *resp, es_event_cb cb, void *ud);

/* ---- clickhouse_scan.c: the replay's ordered scan (store.h) ---- */

/* The scan state of one store (NULL on OOM); chscan_free waits for a page
 * being prefetched. `conn` must outlive it. */
chscan *chscan_new(const ch_conn *conn);
void chscan_free(chscan *sc);
/* Appends the WHERE clause shared by scan and count: aggregate type,
 * tenant, and the aggregates with an event created since since_ms. */
void chscan_filter(json_buf *q, const ch_store *s, const char *tenant_id,
                   const char *aggregate_type, int64_t since_ms);
/* event_read from what the last event_scan kept: when this thread's last
 * page ended inside (tenant_id, aggregate_id) after seq after_seq, the rest
 * of that aggregate as the page read it, once, limit 0 only. 1 when served
 * (*rc: 0, or -1 with a diag), 0 when the caller must query. */
int chscan_tail(chscan *sc, const char *tenant_id, const char *aggregate_type,
                const char *aggregate_id, int64_t after_seq, size_t limit, es_event_cb cb,
                void *ud, int *rc);
int chevents_scan(es_store *s, const char *tenant_id, const char *aggregate_type,
                  const char *after_tenant, const char *after_aggregate,
                  int64_t since_ms, size_t limit, es_event_cb cb, void *ud);

/* ---- clickhouse_replay.c: what else a replay reads and writes ---- */

int chevents_count(es_store *s, const char *tenant_id, const char *aggregate_type,
                   int64_t since_ms, int64_t *count);
int chfolds_drop(es_store *s, const char *tenant_id, const char *table,
                 const char *key);

int chfolds_get(es_store *s, const char *tenant_id, const char *table,
                const char *key, char **state_json, int64_t *last_seq);
int chfolds_put(es_store *s, const char *tenant_id, const char *table,
                const char *key, const char *state_json, int64_t last_seq,
                int64_t updated_at);

int chrecords_append(es_store *s, const char *tenant_id, const char *table,
                     const char *record_id, const char *aggregate_id,
                     const char *record_json, int64_t created_at);
int chrecords_list(es_store *s, const char *tenant_id, const char *table,
                   size_t limit, es_record_cb cb, void *ud);

#endif
