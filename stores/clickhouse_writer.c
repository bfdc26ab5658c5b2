/* clickhouse_writer.c: the batched writer. Rows from every thread are
 * buffered per table and sent by flusher threads as a single INSERT per
 * batch (in the table's format: RowBinary for every table), when the table
 * holds flush_rows rows or its oldest row is flush_ms old (or a reader or
 * close asks for a flush). FLUSHERS threads send the batches of different
 * tables at once (one table's batches go one after the other, in order): a
 * unit of work waits for its events, records and fold copies, and one
 * thread made that the sum of three INSERTs rather than the longest. Tiny
 * inserts per event are what made the reference system fall over with
 * TOO_MANY_PARTS, so nothing here ever inserts row by row.
 *
 * Memory is bounded by buffer_bytes (rows waiting plus the batch in
 * flight): a full buffer makes appends wait, then fail with DIAG_BUSY, which
 * stops the workers from claiming more work. A failed INSERT is retried
 * with exponential backoff (100 ms .. 5 s) until it succeeds; the batch
 * stays in memory meanwhile, so nothing is lost while ClickHouse is down.
 * A retried batch may repeat rows whose INSERT did succeed without an
 * answer; every table is a ReplacingMergeTree keyed so that such repeats
 * collapse.
 *
 * Batches are numbered per table; a row's ticket is (table, batch) and it is
 * durable once that batch is inserted, which is what tx_commit waits for. */
#include "clickhouse_internal.h"

#include "../engine/clock.h"
#include "../engine/diag.h"
#include "../engine/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Flusher threads: tables sent at once (a unit of work writes to ~3). */
#define FLUSHERS 3

typedef struct ch_table {
    char *name;
    char *insert_tail;       /* after "INSERT INTO `db`.`name`" (chwriter_table_format) */
    json_buf buf;            /* rows waiting for the next batch */
    size_t rows;
    int64_t oldest_ms;       /* monotonic time of the first waiting row */
    uint64_t filling;        /* number of the batch the waiting rows form */
    uint64_t durable;        /* every batch <= this one is inserted */
    uint64_t sync_upto;      /* flush now while filling <= sync_upto */
    json_buf inflight;       /* the batch being sent (kept until it succeeds) */
    json_buf spare;          /* an inserted batch's buffer, empty, to fill next */
    size_t inflight_rows;
    uint64_t inflight_batch; /* 0: none */
    int64_t retry_at;        /* monotonic; 0 when not backing off */
    int sending;             /* a flusher is sending the batch in flight */
    int64_t backoff_ms;
    char *last_error;        /* of the last failed INSERT, for timeouts */
} ch_table;

/* A unit of work committed without waiting: `done` runs once its tickets
 * are durable. */
typedef struct pending_commit {
    chwriter_ticket *tickets;
    size_t n;
    chwriter_done_cb done;
    void *ud;
    int ud_status; /* what done() is told */
    struct pending_commit *next;
} pending_commit;

struct chwriter {
    const ch_conn *conn;
    clickhouse_options opt;
    pthread_mutex_t mu;
    pthread_cond_t wake;     /* the flusher: rows arrived, sync asked, closing */
    pthread_cond_t progress; /* waiters: a batch was inserted, space freed */
    ch_table *tables;
    size_t n_tables, cap_tables, next_pick;
    size_t bytes, rows;      /* buffered, including batches in flight */
    int closing;
    int64_t close_deadline;
    pthread_t threads[FLUSHERS];
    int n_threads;
    clickhouse_stats stats;
    pending_commit *pending; /* async commits waiting for their batches */
};

/* The calling thread's open unit of work: the newest ticket per table.
 * Fixed size (no allocation to leak at thread exit); a unit of work touching
 * more tables than that waits for every table instead. */
#define TX_TABLES 32
static _Thread_local struct {
    chwriter *w;
    chwriter_ticket tickets[TX_TABLES];
    size_t n;
    int overflow;
} tx_state;

/* Absolute CLOCK_REALTIME deadline `ms` from now, for pthread_cond_timedwait. */
static struct timespec deadline_in(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void wait_ms(pthread_cond_t *cond, pthread_mutex_t *mu, int64_t ms)
{
    struct timespec ts = deadline_in(ms > 0 ? ms : 0);
    pthread_cond_timedwait(cond, mu, &ts);
}

/* Index of `name`, adding it when new; SIZE_MAX on OOM. Locked. */
static size_t table_index(chwriter *w, const char *name)
{
    for (size_t i = 0; i < w->n_tables; i++)
        if (strcmp(w->tables[i].name, name) == 0) return i;
    if (w->n_tables == w->cap_tables) {
        size_t cap = w->cap_tables ? w->cap_tables * 2 : 8;
        ch_table *t = realloc(w->tables, cap * sizeof *t);
        if (!t) return SIZE_MAX;
        w->tables = t;
        w->cap_tables = cap;
    }
    ch_table *t = &w->tables[w->n_tables];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) return SIZE_MAX;
    t->filling = 1;
    return w->n_tables++;
}

/* Whether table t has a batch to send now, and if not, in how many ms it
 * might (*next_ms, lowered). Locked. */
static int table_due(const chwriter *w, const ch_table *t, int64_t now, int64_t *next_ms)
{
    if (t->sending) return 0;
    if (t->inflight_batch) {
        if (t->retry_at <= now) return 1;
        if (t->retry_at - now < *next_ms) *next_ms = t->retry_at - now;
        return 0;
    }
    if (t->rows == 0) return 0;
    if (t->rows >= w->opt.flush_rows || w->closing || t->sync_upto >= t->filling) return 1;
    int64_t due = t->oldest_ms + w->opt.flush_ms;
    if (due <= now) return 1;
    if (due - now < *next_ms) *next_ms = due - now;
    return 0;
}

/* Drops a batch that could not be written before close's deadline. Locked. */
static void table_drop_inflight(chwriter *w, ch_table *t)
{
    log_error("clickhouse: %zu rows for table %s lost at close: %s", t->inflight_rows,
              t->name, t->last_error ? t->last_error : "?");
    w->bytes -= t->inflight.len;
    w->rows -= t->inflight_rows;
    t->durable = t->inflight_batch;
    jb_free(&t->inflight);
    t->inflight_rows = 0;
    t->inflight_batch = 0;
}

/* A batch's buffer up to this size is kept, emptied, for the table's next
 * batch: one the size of the last fills without growing through the
 * allocator again (the pages of a fresh multi-megabyte buffer cost a page
 * fault each, ~5% of a busy worker's time). A bigger one (a backlog sent
 * after an outage) is freed. */
#define SPARE_MAX_BYTES (16u << 20)

/* Done with the inserted batch of t: its buffer becomes the spare. */
static void keep_spare(ch_table *t)
{
    if (t->inflight.cap <= SPARE_MAX_BYTES && !t->spare.data && !t->inflight.oom) {
        jb_reset(&t->inflight);
        t->spare = t->inflight;
    } else {
        jb_free(&t->inflight);
    }
    jb_init(&t->inflight);
}

/* Sends table i's batch (taking the waiting rows first when none is in
 * flight). Called locked; unlocks around the request. */
static void table_flush(chwriter *w, size_t i)
{
    ch_table *t = &w->tables[i];
    if (!t->inflight_batch) {
        t->inflight = t->buf;
        t->buf = t->spare;
        jb_init(&t->spare);
        t->inflight_rows = t->rows;
        t->inflight_batch = t->filling++;
        t->rows = 0;
    }
    const char *data = t->inflight.data;
    size_t len = t->inflight.len, n_rows = t->inflight_rows;
    json_buf sql;
    jb_init(&sql);
    jb_str(&sql, "INSERT INTO ");
    chsql_table(&sql, w->conn->database, t->name);
    jb_str(&sql, t->insert_tail);
    char *table_name = strdup(t->name);
    t->sending = 1;
    pthread_mutex_unlock(&w->mu);

    int rc = sql.oom || !table_name
                 ? (diag_set(DIAG_INTERNAL, "out of memory"), -1)
                 : chhttp_query(w->conn, 1, sql.data, data, len, NULL);
    char *err = rc == 0 ? NULL : strdup(diag_message());
    if (rc != 0)
        log_error_limited("clickhouse_insert",
                          "clickhouse: INSERT of %zu rows into %s failed, will retry: %s",
                          n_rows, table_name ? table_name : "?", diag_message());
    jb_free(&sql);
    free(table_name);

    pthread_mutex_lock(&w->mu);
    t = &w->tables[i]; /* the array may have grown meanwhile */
    t->sending = 0;
    if (rc == 0) {
        w->stats.inserts++;
        w->stats.rows_inserted += n_rows;
        w->bytes -= len;
        w->rows -= n_rows;
        t->durable = t->inflight_batch;
        keep_spare(t);
        t->inflight_rows = 0;
        t->inflight_batch = 0;
        t->retry_at = 0;
        t->backoff_ms = 0;
        pthread_cond_broadcast(&w->progress);
        free(err);
        return;
    }
    w->stats.insert_errors++;
    free(t->last_error);
    t->last_error = err;
    t->backoff_ms = t->backoff_ms ? t->backoff_ms * 2 : 100;
    if (t->backoff_ms > 5000) t->backoff_ms = 5000;
    t->retry_at = clock_monotonic_ms() + t->backoff_ms;
    if (w->closing && clock_monotonic_ms() >= w->close_deadline) {
        table_drop_inflight(w, t);
        pthread_cond_broadcast(&w->progress);
    }
}

/* 1 when every ticket is durable. Locked. */
static int tickets_durable(const chwriter *w, const chwriter_ticket *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (w->tables[t[i].table].durable < t[i].batch) return 0;
    return 1;
}

/* Calls the callbacks of async commits whose rows are all inserted (all of
 * them at close, with -1 for those that are not). Locked; unlocks around
 * the callbacks. */
static void run_ready_commits(chwriter *w, int final)
{
    pending_commit *ready = NULL, **link = &w->pending;
    while (*link) {
        pending_commit *p = *link;
        if (final || tickets_durable(w, p->tickets, p->n)) {
            *link = p->next;
            p->next = ready;
            ready = p;
        } else {
            link = &p->next;
        }
    }
    if (!ready) return;
    for (pending_commit *p = ready; p; p = p->next)
        p->ud_status = tickets_durable(w, p->tickets, p->n) ? 0 : -1;
    pthread_mutex_unlock(&w->mu);
    while (ready) {
        pending_commit *p = ready;
        ready = p->next;
        p->done(p->ud, p->ud_status);
        free(p->tickets);
        free(p);
    }
    pthread_mutex_lock(&w->mu);
}

static void *flusher_main(void *arg)
{
    chwriter *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        int64_t now = clock_monotonic_ms();
        int64_t next_ms = 1000;
        size_t pick = SIZE_MAX;
        for (size_t k = 0; k < w->n_tables && pick == SIZE_MAX; k++) {
            size_t i = (w->next_pick + k) % w->n_tables;
            if (table_due(w, &w->tables[i], now, &next_ms)) pick = i;
        }
        if (pick != SIZE_MAX) {
            w->next_pick = pick + 1;
            table_flush(w, pick);
            run_ready_commits(w, 0);
            continue;
        }
        if (w->closing && w->rows == 0) break;
        if (w->closing && now >= w->close_deadline) {
            for (size_t i = 0; i < w->n_tables; i++) {
                ch_table *t = &w->tables[i];
                /* one being sent is dropped by its sender if that fails */
                if (t->inflight_batch && !t->sending) table_drop_inflight(w, t);
            }
            if (w->rows == 0) break;
        }
        wait_ms(&w->wake, &w->mu, next_ms);
    }
    pthread_cond_broadcast(&w->wake); /* the other flushers: nothing is left */
    run_ready_commits(w, 1);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

chwriter *chwriter_new(const ch_conn *conn, const clickhouse_options *opt)
{
    chwriter *w = calloc(1, sizeof *w);
    if (!w) {
        diag_set(DIAG_INTERNAL, "out of memory creating the clickhouse writer");
        return NULL;
    }
    w->conn = conn;
    w->opt = *opt;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->progress, NULL);
    while (w->n_threads < FLUSHERS &&
           pthread_create(&w->threads[w->n_threads], NULL, flusher_main, w) == 0)
        w->n_threads++;
    if (w->n_threads < FLUSHERS) {
        chwriter_free(w);
        diag_set(DIAG_INTERNAL, "cannot start the clickhouse flusher threads");
        return NULL;
    }
    return w;
}

void chwriter_free(chwriter *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->closing = 1;
    w->close_deadline = clock_monotonic_ms() + w->opt.commit_timeout_ms;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->mu);
    for (int k = 0; k < w->n_threads; k++) pthread_join(w->threads[k], NULL);
    for (size_t i = 0; i < w->n_tables; i++) {
        ch_table *t = &w->tables[i];
        free(t->name);
        free(t->insert_tail);
        jb_free(&t->buf);
        jb_free(&t->inflight);
        jb_free(&t->spare);
        free(t->last_error);
    }
    free(w->tables);
    if (tx_state.w == w) tx_state.w = NULL;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->progress);
    free(w);
}

/* Remembers `ticket` in the calling thread's unit of work. */
static void tx_track(chwriter *w, chwriter_ticket ticket)
{
    if (tx_state.w != w) return;
    for (size_t i = 0; i < tx_state.n; i++) {
        if (tx_state.tickets[i].table == ticket.table) {
            if (tx_state.tickets[i].batch < ticket.batch) tx_state.tickets[i] = ticket;
            return;
        }
    }
    if (tx_state.n == TX_TABLES) tx_state.overflow = 1;
    else tx_state.tickets[tx_state.n++] = ticket;
}

int chwriter_table_format(chwriter *w, const char *table, const char *insert_tail)
{
    pthread_mutex_lock(&w->mu);
    size_t i = table_index(w, table);
    char *tail = i == SIZE_MAX ? NULL : strdup(insert_tail);
    if (tail) {
        free(w->tables[i].insert_tail);
        w->tables[i].insert_tail = tail;
    }
    pthread_mutex_unlock(&w->mu);
    if (!tail) diag_set(DIAG_INTERNAL, "out of memory in the clickhouse writer");
    return tail ? 0 : -1;
}

int chwriter_append(chwriter *w, const char *table, const char *rows, size_t len,
                    size_t n_rows, chwriter_ticket *ticket)
{
    pthread_mutex_lock(&w->mu);
    size_t i = table_index(w, table);
    if (i == SIZE_MAX) {
        pthread_mutex_unlock(&w->mu);
        diag_set(DIAG_INTERNAL, "out of memory in the clickhouse writer");
        return -1;
    }
    int64_t deadline = clock_monotonic_ms() + w->opt.busy_wait_ms;
    /* an empty buffer always accepts one append, however large */
    while (w->bytes > 0 && w->bytes + len > w->opt.buffer_bytes) {
        int64_t left = deadline - clock_monotonic_ms();
        if (left <= 0) {
            size_t held = w->bytes;
            pthread_mutex_unlock(&w->mu);
            diag_set(DIAG_BUSY,
                     "clickhouse writer buffer full (%zu of %zu bytes): ClickHouse is "
                     "slow or down", held, w->opt.buffer_bytes);
            return -1;
        }
        wait_ms(&w->progress, &w->mu, left);
    }
    ch_table *t = &w->tables[i];
    if (!t->insert_tail) {
        pthread_mutex_unlock(&w->mu);
        diag_set(DIAG_INTERNAL, "clickhouse writer: table %s has no format", table);
        return -1;
    }
    size_t before = t->buf.len;
    jb_raw(&t->buf, rows, len);
    if (t->buf.oom) {
        t->buf.oom = 0;
        t->buf.len = before;
        pthread_mutex_unlock(&w->mu);
        diag_set(DIAG_BUSY, "out of memory buffering clickhouse rows");
        return -1;
    }
    if (t->rows == 0) t->oldest_ms = clock_monotonic_ms();
    t->rows += n_rows;
    w->bytes += len;
    w->rows += n_rows;
    chwriter_ticket tk = {i, t->filling};
    if (before == 0 || t->rows >= w->opt.flush_rows) pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    if (ticket) *ticket = tk;
    tx_track(w, tk);
    return 0;
}

int chwriter_durable(chwriter *w, chwriter_ticket ticket)
{
    pthread_mutex_lock(&w->mu);
    int done = w->tables[ticket.table].durable >= ticket.batch;
    pthread_mutex_unlock(&w->mu);
    return done;
}

void chwriter_tx_begin(chwriter *w)
{
    tx_state.w = w;
    tx_state.n = 0;
    tx_state.overflow = 0;
}

void chwriter_tx_end(chwriter *w)
{
    if (tx_state.w == w) tx_state.w = NULL;
    tx_state.n = 0;
    tx_state.overflow = 0;
}

/* Waits until every ticket in `tickets` is durable or `deadline` (monotonic)
 * passes. Locked. */
static int wait_tickets(chwriter *w, const chwriter_ticket *tickets, size_t n,
                        int64_t deadline)
{
    for (size_t k = 0; k < n; k++) {
        ch_table *t = &w->tables[tickets[k].table];
        while (w->tables[tickets[k].table].durable < tickets[k].batch) {
            int64_t left = deadline - clock_monotonic_ms();
            if (left <= 0) {
                t = &w->tables[tickets[k].table];
                diag_set(DIAG_TIMEOUT,
                         "clickhouse: rows for table %s not inserted in time%s%s",
                         t->name, t->last_error ? ": " : "",
                         t->last_error ? t->last_error : "");
                return -1;
            }
            wait_ms(&w->progress, &w->mu, left);
        }
    }
    return 0;
}

int chwriter_tx_wait(chwriter *w)
{
    if (tx_state.w != w) return 0;
    if (tx_state.overflow) {
        chwriter_tx_end(w);
        return chwriter_sync(w, NULL, w->opt.commit_timeout_ms);
    }
    pthread_mutex_lock(&w->mu);
    int rc = wait_tickets(w, tx_state.tickets, tx_state.n,
                          clock_monotonic_ms() + w->opt.commit_timeout_ms);
    pthread_mutex_unlock(&w->mu);
    chwriter_tx_end(w);
    return rc;
}

int chwriter_tx_commit_async(chwriter *w, chwriter_done_cb done, void *ud)
{
    pending_commit *p = NULL;
    if (tx_state.w == w) {
        p = calloc(1, sizeof *p);
        size_t n = tx_state.n;
        if (p) p->tickets = malloc((tx_state.overflow ? w->n_tables : n) * sizeof *p->tickets + 1);
        if (!p || !p->tickets) {
            free(p);
            diag_set(DIAG_INTERNAL, "out of memory");
            return -1;
        }
        pthread_mutex_lock(&w->mu);
        if (tx_state.overflow) { /* every table's newest rows */
            for (size_t i = 0; i < w->n_tables; i++) {
                ch_table *t = &w->tables[i];
                uint64_t target = t->rows ? t->filling : t->inflight_batch;
                if (target) p->tickets[p->n++] = (chwriter_ticket){i, target};
            }
        } else {
            memcpy(p->tickets, tx_state.tickets, n * sizeof *p->tickets);
            p->n = n;
        }
        int now_done = tickets_durable(w, p->tickets, p->n);
        if (!now_done) {
            p->done = done;
            p->ud = ud;
            p->next = w->pending;
            w->pending = p;
        }
        pthread_mutex_unlock(&w->mu);
        if (now_done) {
            free(p->tickets);
            free(p);
            p = NULL;
        }
    }
    chwriter_tx_end(w);
    if (!p) done(ud, 0);
    return 0;
}

int chwriter_sync(chwriter *w, const char *table, int64_t timeout_ms)
{
    pthread_mutex_lock(&w->mu);
    size_t n = 0;
    chwriter_ticket *tickets = malloc((w->n_tables + 1) * sizeof *tickets);
    if (!tickets) {
        pthread_mutex_unlock(&w->mu);
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < w->n_tables; i++) {
        ch_table *t = &w->tables[i];
        if (table && strcmp(t->name, table) != 0) continue;
        uint64_t target = t->rows ? t->filling : t->inflight_batch;
        if (!target) continue;
        if (t->sync_upto < target) t->sync_upto = target;
        tickets[n++] = (chwriter_ticket){i, target};
    }
    if (n) pthread_cond_signal(&w->wake);
    int rc = wait_tickets(w, tickets, n, clock_monotonic_ms() + timeout_ms);
    pthread_mutex_unlock(&w->mu);
    free(tickets);
    return rc;
}

void chwriter_stats(chwriter *w, clickhouse_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    out->buffered_bytes = w->bytes;
    out->buffered_rows = w->rows;
    pthread_mutex_unlock(&w->mu);
}

int chwriter_busy(chwriter *w)
{
    pthread_mutex_lock(&w->mu);
    int busy = w->bytes >= w->opt.buffer_bytes / 4 * 3;
    for (size_t i = 0; i < w->n_tables && !busy; i++) busy = w->tables[i].retry_at != 0;
    pthread_mutex_unlock(&w->mu);
    return busy;
}
