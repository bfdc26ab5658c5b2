/* clickhouse_scan.c: the replay's ordered scan of the event log
 * (event_scan, store.h) in bounded key ranges, sorted here, with the next
 * page fetched while the caller folds the current one.
 *
 * ClickHouse 18.16 cannot read a MergeTree in key order: an ORDER BY …
 * LIMIT page after a cursor reads and sorts every row after it, so paging
 * through the log that way is quadratic. Instead a scan first lists the
 * aggregates after the cursor with their row counts (the plan: one GROUP BY
 * over the key columns, kept for the calls that follow), then reads each
 * page as the key range (cursor, the aggregate where the counts reach
 * `limit`] without ORDER BY: the primary key limits the read to the range's
 * granules and the rows are sorted here by (tenant_id, aggregate_id, seq),
 * rows repeated by a retried insert (not yet merged by the
 * ReplacingMergeTree) delivered once, as event_read does. Past the last
 * aggregate of a complete plan the range is open, so aggregates created
 * after the plan are read as well; a range that yields fewer rows than planned (repeats
 * counted by the plan) is followed by the next one in the same call. At
 * most `limit` events are delivered: the rest of the aggregate the page
 * ends in is the caller's event_read, which the page already holds: it is
 * kept and answers that one event_read (same thread, same aggregate and
 * seq, once; chscan_tail) instead of a query per page.
 *
 * Prefetch: once a page is fetched, the range the next call will ask for
 * (after the aggregate that page ends in) is fetched on a thread of its own
 * (its own curl handle) while the caller folds; the next call takes it when
 * its range is the same query, else drops it. A prefetched page is a read
 * taken a little earlier, as every page is: events appended after the scan
 * passed an aggregate are folded by the replay's catch-up.
 *
 * Memory: the plan lists at most PLAN_WINDOW aggregates (its last range
 * then ends at its last one, and a scan past it lists the next window); a
 * page holds one range's rows (about `limit` events, or the whole of an
 * aggregate larger than that, which the replay holds anyway to fold it),
 * twice while the next is prefetched. */
#include "clickhouse_internal.h"

#include "../engine/diag.h"

#include <stdlib.h>
#include <string.h>

/* Aggregates listed per plan query: the plan is rebuilt from the cursor
 * when a scan passes its last one. */
#define PLAN_WINDOW 100000

/* One aggregate of the plan. */
typedef struct plan_agg {
    char *tenant, *agg;
    uint64_t rows;
} plan_agg;

struct chscan {
    pthread_mutex_t lock; /* one scan call at a time */
    const ch_conn *conn;
    /* the plan: the aggregates of `filter` strictly after (from_tenant,
     * from_agg), in key order */
    char *filter;
    char *from_tenant, *from_agg;
    plan_agg *aggs;
    size_t n;
    int truncated; /* PLAN_WINDOW aggregates listed, more may follow */
    /* the page being prefetched */
    pthread_t thread;
    int running;
    char *pf_sql;
    json_buf pf_resp;
    int pf_rc;
    /* the rest of the aggregate the last page ended in (rows [tail_from,
     * tail_to) of tail_resp), kept for the event_read that continues it */
    int has_tail;
    pthread_t tail_owner;
    char *tail_type;
    int64_t tail_after;
    json_buf tail_resp;
    struct row_ref *tail_rows;
    size_t tail_from, tail_to;
};

/* A row of a fetched page: where it starts and its sort key. */
typedef struct row_ref {
    const unsigned char *at;
    const char *tenant, *agg;
    size_t tenant_len, agg_len;
    uint64_t seq;
} row_ref;

chscan *chscan_new(const ch_conn *conn)
{
    chscan *sc = calloc(1, sizeof *sc);
    if (!sc) return NULL;
    pthread_mutex_init(&sc->lock, NULL);
    sc->conn = conn;
    jb_init(&sc->pf_resp);
    return sc;
}

/* Forgets the kept tail. */
static void tail_drop(chscan *sc)
{
    sc->has_tail = 0;
    free(sc->tail_type);
    sc->tail_type = NULL;
    jb_free(&sc->tail_resp);
    free(sc->tail_rows);
    sc->tail_rows = NULL;
}

/* Waits for the prefetch thread, if any, and forgets its page. */
static void prefetch_drop(chscan *sc)
{
    if (sc->running) pthread_join(sc->thread, NULL);
    sc->running = 0;
    free(sc->pf_sql);
    sc->pf_sql = NULL;
    jb_free(&sc->pf_resp);
}

static void plan_clear(chscan *sc)
{
    for (size_t i = 0; i < sc->n; i++) {
        free(sc->aggs[i].tenant);
        free(sc->aggs[i].agg);
    }
    free(sc->aggs);
    free(sc->filter);
    free(sc->from_tenant);
    free(sc->from_agg);
    sc->aggs = NULL;
    sc->n = 0;
    sc->truncated = 0;
    sc->filter = sc->from_tenant = sc->from_agg = NULL;
}

void chscan_free(chscan *sc)
{
    if (!sc) return;
    prefetch_drop(sc);
    tail_drop(sc);
    plan_clear(sc);
    pthread_mutex_destroy(&sc->lock);
    free(sc);
}

void chscan_filter(json_buf *q, const ch_store *s, const char *tenant_id,
                   const char *aggregate_type, int64_t since_ms)
{
    jb_str(q, " WHERE aggregate_type = ");
    chsql_quote(q, aggregate_type);
    if (tenant_id) {
        jb_str(q, " AND tenant_id = ");
        chsql_quote(q, tenant_id);
    }
    if (since_ms <= 0) return;
    jb_str(q, " AND (tenant_id, aggregate_id) IN (SELECT tenant_id, aggregate_id FROM ");
    chsql_table(q, s->conn.database, "events");
    jb_str(q, " WHERE aggregate_type = ");
    chsql_quote(q, aggregate_type);
    if (tenant_id) {
        jb_str(q, " AND tenant_id = ");
        chsql_quote(q, tenant_id);
    }
    jb_printf(q, " AND created_at >= %lld)", (long long)since_ms);
}

/* (t1, a1) <=> (t2, a2), bytewise as ClickHouse compares strings. */
static int key_cmp(const char *t1, const char *a1, const char *t2, const char *a2)
{
    int c = strcmp(t1, t2);
    return c ? c : strcmp(a1, a2);
}

/* Appends the bound "strictly after (t, a)" (nothing when both are ""). */
static void after_bound(json_buf *q, const char *t, const char *a)
{
    if (!*t && !*a) return;
    jb_str(q, " AND (tenant_id > ");
    chsql_quote(q, t);
    jb_str(q, " OR (tenant_id = ");
    chsql_quote(q, t);
    jb_str(q, " AND aggregate_id > ");
    chsql_quote(q, a);
    jb_str(q, "))");
}

/* Runs `sql` into `resp`. 0 or -1 with a diag. */
static int fetch(const ch_conn *conn, const char *sql, json_buf *resp)
{
    if (chhttp_query(conn, 0, sql, NULL, 0, resp) == 0) return 0;
    diag_prefix("event_scan");
    return -1;
}

/* Lists the aggregates of `filter` after (t, a) into the plan. 0 or -1. */
static int plan_build(chscan *sc, const ch_store *s, const char *filter, const char *t,
                      const char *a)
{
    char *from_t = strdup(t), *from_a = strdup(a); /* t, a may be plan entries */
    plan_clear(sc);
    sc->filter = strdup(filter);
    sc->from_tenant = from_t;
    sc->from_agg = from_a;
    json_buf q, resp;
    jb_init(&q);
    jb_init(&resp);
    int rc = -1;
    if (!sc->filter || !from_t || !from_a) {
        diag_set(DIAG_INTERNAL, "out of memory");
        goto out;
    }
    jb_str(&q, "SELECT tenant_id, aggregate_id, count() FROM ");
    chsql_table(&q, s->conn.database, "events");
    jb_str(&q, filter);
    after_bound(&q, from_t, from_a);
    jb_printf(&q, " GROUP BY tenant_id, aggregate_id ORDER BY tenant_id, aggregate_id"
                  " LIMIT %d FORMAT RowBinary", PLAN_WINDOW);
    if (q.oom) {
        diag_set(DIAG_INTERNAL, "out of memory");
        goto out;
    }
    if (fetch(sc->conn, q.data, &resp) != 0) goto out;
    ch_rows r;
    size_t cap = 0;
    chrows_init(&r, &resp);
    while (chrows_more(&r)) {
        if (sc->n == cap) {
            cap = cap ? cap * 2 : 1024;
            plan_agg *grown = realloc(sc->aggs, cap * sizeof *grown);
            if (!grown) {
                diag_set(DIAG_INTERNAL, "out of memory");
                goto out;
            }
            sc->aggs = grown;
        }
        plan_agg *p = &sc->aggs[sc->n];
        p->tenant = chrows_str(&r);
        p->agg = chrows_str(&r);
        p->rows = chrows_u64(&r);
        if (r.err) {
            free(p->tenant);
            free(p->agg);
            diag_set(DIAG_BACKEND, "clickhouse: bad answer planning the event scan");
            goto out;
        }
        sc->n++;
    }
    sc->truncated = sc->n >= PLAN_WINDOW;
    rc = 0;
out:
    if (rc != 0) plan_clear(sc);
    jb_free(&q);
    jb_free(&resp);
    return rc;
}

/* Index of the first plan entry strictly after (t, a). */
static size_t plan_after(const chscan *sc, const char *t, const char *a)
{
    size_t lo = 0, hi = sc->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_cmp(sc->aggs[mid].tenant, sc->aggs[mid].agg, t, a) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The page from plan entry i after (t, a): its query (malloc'd) and the
 * index of its last aggregate (sc->n: open range, every aggregate after;
 * never for a truncated plan, whose last range ends at its last entry).
 * NULL without a diag when i is past a truncated plan (a new plan is
 * needed). */
static char *range_sql(const chscan *sc, const ch_store *s, const char *t, const char *a,
                       size_t i, size_t limit, size_t *last)
{
    uint64_t sum = 0;
    size_t j = sc->n;
    for (size_t k = i; limit && k < sc->n; k++) {
        sum += sc->aggs[k].rows;
        if (sum >= limit) {
            j = k;
            break;
        }
    }
    if (j == sc->n && sc->truncated) {
        if (i >= sc->n) return NULL;
        j = sc->n - 1;
    }
    *last = j;
    json_buf q;
    jb_init(&q);
    jb_str(&q, "SELECT " CHEVENTS_COLUMNS " FROM ");
    chsql_table(&q, s->conn.database, "events");
    jb_str(&q, sc->filter);
    after_bound(&q, t, a);
    if (j < sc->n) {
        jb_str(&q, " AND (tenant_id < ");
        chsql_quote(&q, sc->aggs[j].tenant);
        jb_str(&q, " OR (tenant_id = ");
        chsql_quote(&q, sc->aggs[j].tenant);
        jb_str(&q, " AND aggregate_id <= ");
        chsql_quote(&q, sc->aggs[j].agg);
        jb_str(&q, "))");
    }
    jb_str(&q, " FORMAT RowBinary");
    char *sql = jb_take(&q);
    if (!sql) diag_set(DIAG_INTERNAL, "out of memory");
    return sql;
}

static void *prefetch_main(void *arg)
{
    chscan *sc = arg;
    sc->pf_rc = chhttp_query(sc->conn, 0, sc->pf_sql, NULL, 0, &sc->pf_resp);
    return NULL;
}

/* Starts fetching `sql` (taken) on the prefetch thread; on failure to
 * start, nothing is prefetched. */
static void prefetch_start(chscan *sc, char *sql)
{
    prefetch_drop(sc);
    sc->pf_sql = sql;
    jb_init(&sc->pf_resp);
    if (pthread_create(&sc->thread, NULL, prefetch_main, sc) == 0) {
        sc->running = 1;
        return;
    }
    free(sc->pf_sql);
    sc->pf_sql = NULL;
}

/* Fetches `sql` into `resp`: the prefetched page when it is that query and
 * succeeded, else a query now. */
static int take_or_fetch(chscan *sc, const char *sql, json_buf *resp)
{
    if (sc->pf_sql && strcmp(sc->pf_sql, sql) == 0) {
        pthread_join(sc->thread, NULL);
        sc->running = 0;
        if (sc->pf_rc == 0) {
            *resp = sc->pf_resp;
            jb_init(&sc->pf_resp);
            free(sc->pf_sql);
            sc->pf_sql = NULL;
            return 0;
        }
    }
    prefetch_drop(sc);
    return fetch(sc->conn, sql, resp);
}

static int row_cmp(const void *x, const void *y)
{
    const row_ref *a = x, *b = y;
    size_t n = a->tenant_len < b->tenant_len ? a->tenant_len : b->tenant_len;
    int c = memcmp(a->tenant, b->tenant, n);
    if (c == 0 && a->tenant_len != b->tenant_len) c = a->tenant_len < b->tenant_len ? -1 : 1;
    if (c) return c;
    n = a->agg_len < b->agg_len ? a->agg_len : b->agg_len;
    c = memcmp(a->agg, b->agg, n);
    if (c == 0 && a->agg_len != b->agg_len) c = a->agg_len < b->agg_len ? -1 : 1;
    if (c) return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Indexes the rows of a page response by sort key, sorted, repeats
 * removed. 0 (*rows malloc'd, *n) or -1 with a diag. */
static int page_index(const json_buf *resp, row_ref **rows, size_t *n)
{
    ch_rows r;
    size_t cap = 0, len;
    *rows = NULL;
    *n = 0;
    chrows_init(&r, resp);
    while (chrows_more(&r)) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 4096;
            row_ref *grown = realloc(*rows, cap * sizeof *grown);
            if (!grown) {
                diag_set(DIAG_INTERNAL, "out of memory");
                return -1;
            }
            *rows = grown;
        }
        row_ref *x = &(*rows)[*n];
        x->at = r.p;
        chrows_span(&r, &len); /* id */
        x->tenant = chrows_span(&r, &x->tenant_len);
        chrows_span(&r, &len); /* aggregate_type */
        x->agg = chrows_span(&r, &x->agg_len);
        x->seq = chrows_u64(&r);
        chrows_span(&r, &len); /* type */
        chrows_span(&r, &len); /* version */
        chrows_u64(&r);        /* occurred_at */
        chrows_u64(&r);        /* created_at */
        for (int i = 0; i < 3; i++) chrows_span(&r, &len); /* idempotency, data, metadata */
        if (r.err) {
            diag_set(DIAG_BACKEND, "clickhouse: bad answer reading events");
            return -1;
        }
        (*n)++;
    }
    if (*n > 1) qsort(*rows, *n, sizeof **rows, row_cmp);
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++)
        if (kept == 0 || row_cmp(&(*rows)[kept - 1], &(*rows)[i]) != 0) (*rows)[kept++] = (*rows)[i];
    *n = kept;
    return 0;
}

/* Delivers rows [from, to) in order until cb stops (*stopped set); *done
 * counts the rows delivered. 0 or -1 with a diag. */
static int page_deliver(const json_buf *resp, const row_ref *rows, size_t from, size_t to,
                        size_t *done, int *stopped, es_event_cb cb, void *ud)
{
    ch_rows r;
    json_buf scratch;
    jb_init(&scratch);
    chrows_init(&r, resp);
    int rc = 0;
    *done = 0;
    *stopped = 0;
    for (size_t i = from; i < to; i++) {
        es_event ev;
        r.p = rows[i].at;
        rc = chevents_decode(&r, &ev, &scratch);
        if (rc != 0) break;
        (*done)++;
        if (cb(ud, &ev) != 0) {
            *stopped = 1;
            break;
        }
    }
    jb_free(&scratch);
    return rc;
}

static int same_aggregate(const row_ref *a, const row_ref *b)
{
    return a->tenant_len == b->tenant_len && a->agg_len == b->agg_len &&
           memcmp(a->tenant, b->tenant, a->tenant_len) == 0 &&
           memcmp(a->agg, b->agg, a->agg_len) == 0;
}

/* Keeps the rows of a page after `cut` that belong to the aggregate of row
 * cut - 1, for the calling thread's event_read. Takes `rows` (freed when
 * nothing is kept) and, when it keeps them, the data of `resp`. */
static void tail_keep(chscan *sc, const char *type, json_buf *resp, row_ref *rows, size_t cut,
                      size_t n)
{
    size_t end = cut;
    while (end < n && same_aggregate(&rows[cut - 1], &rows[end])) end++;
    sc->tail_type = strdup(type);
    if (end == cut || !sc->tail_type) { /* nothing to keep (or OOM: a query then) */
        tail_drop(sc);
        free(rows);
        return;
    }
    sc->has_tail = 1;
    sc->tail_owner = pthread_self();
    sc->tail_after = (int64_t)rows[cut - 1].seq;
    sc->tail_resp = *resp;
    jb_init(resp);
    sc->tail_rows = rows;
    sc->tail_from = cut;
    sc->tail_to = end;
}

int chscan_tail(chscan *sc, const char *tenant_id, const char *aggregate_type,
                const char *aggregate_id, int64_t after_seq, size_t limit, es_event_cb cb,
                void *ud, int *rc)
{
    pthread_mutex_lock(&sc->lock);
    int hit = sc->has_tail && tenant_id && limit == 0 && after_seq == sc->tail_after &&
              pthread_equal(sc->tail_owner, pthread_self()) &&
              strcmp(sc->tail_type, aggregate_type) == 0;
    if (hit) {
        const row_ref *x = &sc->tail_rows[sc->tail_from];
        hit = x->tenant_len == strlen(tenant_id) && x->agg_len == strlen(aggregate_id) &&
              memcmp(x->tenant, tenant_id, x->tenant_len) == 0 &&
              memcmp(x->agg, aggregate_id, x->agg_len) == 0;
    }
    if (hit) {
        size_t done;
        int stopped;
        *rc = page_deliver(&sc->tail_resp, sc->tail_rows, sc->tail_from, sc->tail_to, &done,
                           &stopped, cb, ud);
        tail_drop(sc);
    }
    pthread_mutex_unlock(&sc->lock);
    return hit;
}

/* 1 when the plan cannot place the cursor (t, a): another scope, a
 * cursor before the plan's start, or past its last aggregate. */
static int plan_stale(const chscan *sc, const char *filter, const char *t, const char *a)
{
    return !sc->filter || strcmp(sc->filter, filter) != 0 ||
           key_cmp(t, a, sc->from_tenant, sc->from_agg) < 0 || plan_after(sc, t, a) == sc->n;
}

/* The scan under sc->lock: see chevents_scan. */
static int scan_locked(ch_store *s, chscan *sc, const char *filter, const char *type,
                       const char *at, const char *aa, size_t limit, es_event_cb cb, void *ud)
{
    const char *t = at, *a = aa;
    size_t delivered = 0;
    tail_drop(sc);
    for (;;) {
        if (plan_stale(sc, filter, t, a)) {
            prefetch_drop(sc);
            if (plan_build(sc, s, filter, t, a) != 0) return -1;
            t = sc->from_tenant;
            a = sc->from_agg;
        }
        size_t last;
        char *sql = range_sql(sc, s, t, a, plan_after(sc, t, a),
                              limit ? limit - delivered : 0, &last);
        if (!sql) return -1;
        json_buf resp;
        jb_init(&resp);
        int rc = take_or_fetch(sc, sql, &resp);
        free(sql);
        if (rc != 0) {
            jb_free(&resp);
            return -1;
        }
        /* the next call most likely continues after this page's last aggregate */
        if (limit && last < sc->n) {
            size_t next_last;
            char *next = range_sql(sc, s, sc->aggs[last].tenant, sc->aggs[last].agg, last + 1,
                                   limit, &next_last);
            if (next) prefetch_start(sc, next);
        }
        row_ref *rows;
        size_t n, take = 0, done = 0;
        int stopped = 0;
        rc = page_index(&resp, &rows, &n);
        if (rc == 0) {
            take = limit && limit - delivered < n ? limit - delivered : n;
            rc = page_deliver(&resp, rows, 0, take, &done, &stopped, cb, ud);
            delivered += done;
        }
        if (rc == 0 && !stopped && take > 0 && take < n)
            tail_keep(sc, type, &resp, rows, take, n); /* takes rows and resp */
        else
            free(rows);
        jb_free(&resp);
        if (rc != 0 || stopped || last == sc->n || (limit && delivered >= limit)) return rc;
        t = sc->aggs[last].tenant;
        a = sc->aggs[last].agg;
    }
}

int chevents_scan(es_store *base, const char *tenant_id, const char *aggregate_type,
                  const char *after_tenant, const char *after_aggregate,
                  int64_t since_ms, size_t limit, es_event_cb cb, void *ud)
{
    ch_store *s = (ch_store *)base;
    const char *at = after_tenant ? after_tenant : "";
    const char *aa = after_aggregate ? after_aggregate : "";
    if (tenant_id && *at && strcmp(at, tenant_id) != 0) return 0; /* past the only tenant */
    if (chwriter_sync(s->writer, "events", s->opt.commit_timeout_ms) != 0) return -1;
    json_buf filter;
    jb_init(&filter);
    chscan_filter(&filter, s, tenant_id, aggregate_type, since_ms);
    if (filter.oom) {
        jb_free(&filter);
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    pthread_mutex_lock(&s->scan->lock);
    int rc = scan_locked(s, s->scan, filter.data, aggregate_type, at, aa, limit, cb, ud);
    pthread_mutex_unlock(&s->scan->lock);
    jb_free(&filter);
    return rc;
}
