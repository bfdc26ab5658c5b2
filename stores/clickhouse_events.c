/* clickhouse_events.c: the event log in ClickHouse: seq assignment,
 * idempotent append and tenant-scoped reads.
 *
 * ClickHouse cannot assign seqs or check idempotency keys transactionally.
 * With an event index (clickhouse_store_use_index: Redis, next to the
 * queue) seqs and outcomes come from one atomic call to it per aggregate
 * and append; ClickHouse is asked only about retries, whose rows may have
 * died in a killed process's buffer (they are then written again under
 * their indexed seq), and about events whose id or key the index may have
 * forgotten (it keeps a bounded window per aggregate): those are decided
 * as without an index, and the outcome recorded in the index.
 *
 * Without one (no Redis, or its index lost) this relies on the queue:
 * commands are grouped by aggregate and a group has one claimant at a time
 * in the whole fleet, so one thread appends to a given aggregate at a time.
 * Each append then asks ClickHouse, in one query per aggregate, for
 * max(seq) and for the stored events whose id or idempotency key matches
 * the ones being appended. What ClickHouse cannot answer yet is this
 * process's own rows still in the writer's buffer; those are kept in a
 * per-aggregate cache (last seq, ids and keys) until their batch is
 * inserted, then dropped. The effective last seq is max(ClickHouse, cache).
 * We never trust a cached seq alone: another worker process may have
 * appended to the aggregate since (the group moved), and a stale seq would
 * collide with its events, which the ReplacingMergeTree on (..., seq) would
 * silently collapse. The cost is one point query per aggregate per append
 * call.
 *
 * Limits (without the index): a claim whose lease expired while its append
 * was in flight can race the next claimant (the queue's fencing token stops
 * its completion, not its append); on a replicated cluster, reads must hit
 * a replica that has the last insert (insert_quorum +
 * select_sequential_consistency). */
#include "clickhouse_internal.h"

#include "../engine/diag.h"
#include "../engine/log.h"
#include "../engine/metrics.h"

#include <stdlib.h>
#include <string.h>

typedef struct cached_event {
    char *id;
    char *key;
    int64_t seq;
    int64_t created_at;
} cached_event;

typedef struct cache_entry {
    char *agg;              /* tenant \x1f aggregate type \x1f aggregate id */
    int64_t last_seq;
    cached_event *evs;      /* this process's events not known durable */
    size_t n, cap;
    chwriter_ticket ticket; /* batch holding the newest of them */
    int has_ticket;
    int pins;               /* appends in progress: never evicted meanwhile */
    struct cache_entry *next;
} cache_entry;

#define CACHE_BUCKETS 4096
#define CACHE_SWEEP_AT 8192

struct chevents_cache {
    pthread_mutex_t mu;
    cache_entry *buckets[CACHE_BUCKETS];
    size_t n;
};

chevents_cache *chevents_cache_new(void)
{
    chevents_cache *c = calloc(1, sizeof *c);
    if (!c) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void entry_free(cache_entry *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->evs[i].id);
        free(e->evs[i].key);
    }
    free(e->evs);
    free(e->agg);
    free(e);
}

void chevents_cache_free(chevents_cache *c)
{
    if (!c) return;
    for (size_t b = 0; b < CACHE_BUCKETS; b++) {
        for (cache_entry *e = c->buckets[b], *next; e; e = next) {
            next = e->next;
            entry_free(e);
        }
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static size_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)(h % CACHE_BUCKETS);
}

/* Drops entries whose events are all inserted and that no append holds.
 * Locked. */
static void cache_sweep(ch_store *s, chevents_cache *c)
{
    for (size_t b = 0; b < CACHE_BUCKETS; b++) {
        cache_entry **link = &c->buckets[b];
        while (*link) {
            cache_entry *e = *link;
            if (!e->pins && (!e->has_ticket || chwriter_durable(s->writer, e->ticket))) {
                *link = e->next;
                entry_free(e);
                c->n--;
            } else {
                link = &e->next;
            }
        }
    }
}

/* Finds or creates the entry of `agg` and pins it. Locked. NULL on OOM. */
static cache_entry *cache_pin(ch_store *s, chevents_cache *c, const char *agg)
{
    size_t b = hash_str(agg);
    for (cache_entry *e = c->buckets[b]; e; e = e->next) {
        if (strcmp(e->agg, agg) == 0) {
            e->pins++;
            return e;
        }
    }
    if (c->n >= CACHE_SWEEP_AT) cache_sweep(s, c);
    cache_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->agg = strdup(agg))) {
        free(e);
        return NULL;
    }
    e->pins = 1;
    e->next = c->buckets[b];
    c->buckets[b] = e;
    c->n++;
    return e;
}

/* What ClickHouse already holds for one aggregate. */
typedef struct stored_info {
    int64_t max_seq;
    cached_event *evs; /* events matching an id or key being appended */
    size_t n;
} stored_info;

static void stored_info_free(stored_info *st)
{
    for (size_t i = 0; i < st->n; i++) {
        free(st->evs[i].id);
        free(st->evs[i].key);
    }
    free(st->evs);
    memset(st, 0, sizeof *st);
}

/* Appends "tenant_id = .. AND aggregate_type = .. AND aggregate_id = ..". */
static void where_aggregate(json_buf *q, const es_event *ev)
{
    jb_str(q, " WHERE tenant_id = ");
    chsql_quote(q, ev->tenant_id);
    jb_str(q, " AND aggregate_type = ");
    chsql_quote(q, ev->aggregate_type);
    jb_str(q, " AND aggregate_id = ");
    chsql_quote(q, ev->aggregate_id);
}

/* Asks ClickHouse for max(seq) of the aggregate of events[idx[0]] and for
 * its stored events matching the ids or keys of events[idx[0..n)]; counted
 * in METRIC_EVENT_LOG_LOOKUPS under `reason`. */
static int stored_lookup(ch_store *s, const es_event *events, const size_t *idx,
                         size_t n, const char *reason, stored_info *st)
{
    metrics_inc(METRIC_EVENT_LOG_LOOKUPS, reason, NULL, NULL);
    memset(st, 0, sizeof *st);
    const es_event *first = &events[idx[0]];
    json_buf q, resp;
    jb_init(&q);
    jb_init(&resp);
    jb_str(&q, "SELECT seq, id, idempotency_key, created_at, toUInt8(0) FROM ");
    chsql_table(&q, s->conn.database, "events");
    where_aggregate(&q, first);
    jb_str(&q, " AND (id IN (");
    for (size_t i = 0; i < n; i++) {
        if (i) jb_str(&q, ", ");
        chsql_quote(&q, events[idx[i]].id);
    }
    jb_str(&q, ") OR idempotency_key IN (");
    for (size_t i = 0; i < n; i++) {
        if (i) jb_str(&q, ", ");
        chsql_quote(&q, events[idx[i]].idempotency_key);
    }
    jb_str(&q, ")) UNION ALL SELECT max(seq), '', '', toUInt64(0), toUInt8(1) FROM ");
    chsql_table(&q, s->conn.database, "events");
    where_aggregate(&q, first);
    jb_str(&q, " FORMAT RowBinary");
    int rc = q.oom ? (diag_set(DIAG_INTERNAL, "out of memory"), -1)
                   : chhttp_query(&s->conn, 0, q.data, NULL, 0, &resp);
    jb_free(&q);
    if (rc != 0) {
        jb_free(&resp);
        diag_prefix("event_append: looking up aggregate %s", first->aggregate_id);
        return -1;
    }
    ch_rows r;
    chrows_init(&r, &resp);
    size_t cap = 0;
    while (chrows_more(&r)) {
        cached_event ev;
        ev.seq = (int64_t)chrows_u64(&r);
        ev.id = chrows_str(&r);
        ev.key = chrows_str(&r);
        ev.created_at = (int64_t)chrows_u64(&r);
        int is_max = chrows_u8(&r);
        if (r.err || is_max) {
            if (is_max && ev.seq > st->max_seq) st->max_seq = ev.seq;
            free(ev.id);
            free(ev.key);
            continue;
        }
        if (st->n == cap) {
            cap = cap ? cap * 2 : 8;
            cached_event *grown = realloc(st->evs, cap * sizeof *grown);
            if (!grown) {
                free(ev.id);
                free(ev.key);
                r.err = 1;
                break;
            }
            st->evs = grown;
        }
        st->evs[st->n++] = ev;
    }
    jb_free(&resp);
    if (r.err) {
        stored_info_free(st);
        diag_set(DIAG_BACKEND, "event_append: bad answer looking up aggregate %s",
                 first->aggregate_id);
        return -1;
    }
    return 0;
}

/* Finds an event by id (by_key 0) or idempotency key (1) in `evs`. */
static const cached_event *find_event(const cached_event *evs, size_t n, const char *value,
                                      int by_key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(by_key ? evs[i].key : evs[i].id, value) == 0) return &evs[i];
    return NULL;
}

/* Decides the outcome, seq and created_at of the events of one aggregate
 * (events[idx[0..n)]) from what is stored, what is buffered (entry) and the
 * events earlier in the same call. Fills `fresh` (borrowed id/key pointers)
 * with the new ones. Locked (cache). Returns the number of new events. */
static size_t resolve_group(es_event *events, const size_t *idx, size_t n, int64_t now,
                            const stored_info *st, const cache_entry *e,
                            append_outcome *outcomes, cached_event *fresh)
{
    int64_t last = st->max_seq > e->last_seq ? st->max_seq : e->last_seq;
    size_t n_fresh = 0;
    for (size_t k = 0; k < n; k++) {
        es_event *ev = &events[idx[k]];
        const cached_event *hit = NULL;
        for (int by_key = 0; by_key < 2 && !hit; by_key++) {
            const char *v = by_key ? ev->idempotency_key : ev->id;
            hit = find_event(st->evs, st->n, v, by_key);
            if (!hit) hit = find_event(e->evs, e->n, v, by_key);
            if (!hit) hit = find_event(fresh, n_fresh, v, by_key);
            if (hit) {
                outcomes[idx[k]] = by_key ? APPEND_DUPLICATE : APPEND_RETRY;
                if (!by_key) {
                    ev->seq = hit->seq;
                    ev->created_at = hit->created_at;
                }
            }
        }
        if (hit) continue;
        ev->seq = ++last;
        ev->created_at = now;
        outcomes[idx[k]] = APPEND_NEW;
        fresh[n_fresh++] = (cached_event){ev->id, ev->idempotency_key, ev->seq, now};
    }
    return n_fresh;
}

/* Adds the new events to the entry once their rows are buffered. Locked. */
static int entry_record(cache_entry *e, const cached_event *fresh, size_t n,
                        chwriter_ticket ticket)
{
    if (e->n + n > e->cap) {
        size_t cap = e->cap ? e->cap : 8;
        while (cap < e->n + n) cap *= 2;
        cached_event *grown = realloc(e->evs, cap * sizeof *grown);
        if (!grown) return -1;
        e->evs = grown;
        e->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        cached_event c = {strdup(fresh[i].id), strdup(fresh[i].key), fresh[i].seq,
                          fresh[i].created_at};
        if (!c.id || !c.key) {
            free(c.id);
            free(c.key);
            return -1;
        }
        e->evs[e->n++] = c;
        if (c.seq > e->last_seq) e->last_seq = c.seq;
    }
    e->ticket = ticket;
    e->has_ticket = 1;
    return 0;
}

void chevents_row(json_buf *b, const es_event *ev)
{
    chrow_put_cstr(b, ev->tenant_id);
    chrow_put_cstr(b, ev->aggregate_type);
    chrow_put_cstr(b, ev->aggregate_id);
    chrow_put_u64(b, ev->seq > 0 ? (uint64_t)ev->seq : 0);
    chrow_put_cstr(b, ev->id);
    chrow_put_cstr(b, ev->type);
    chrow_put_cstr(b, ev->version);
    chrow_put_u64(b, ev->occurred_at > 0 ? (uint64_t)ev->occurred_at : 0);
    chrow_put_u64(b, ev->created_at > 0 ? (uint64_t)ev->created_at : 0);
    chrow_put_cstr(b, ev->idempotency_key);
    chrow_put_cstr(b, ev->data_json ? ev->data_json : "{}");
    chrow_put_cstr(b, ev->metadata_json ? ev->metadata_json : "{}");
}

static int same_aggregate(const es_event *a, const es_event *b)
{
    return strcmp(a->tenant_id, b->tenant_id) == 0 &&
           strcmp(a->aggregate_type, b->aggregate_type) == 0 &&
           strcmp(a->aggregate_id, b->aggregate_id) == 0;
}

/* Decides the events of one aggregate by asking ClickHouse (see the top of
 * the file; reason: why, for the metric), as decide_indexed; *base (may be
 * NULL) is the last seq before them, stored or buffered. 0 or -1. */
static int decide_stored(ch_store *s, es_event *events, const size_t *idx, size_t n,
                         int64_t now, append_outcome *outcomes, const cache_entry *e,
                         cached_event *fresh, char *write, size_t *n_fresh, int64_t *base,
                         const char *reason)
{
    stored_info st;
    if (stored_lookup(s, events, idx, n, reason, &st) != 0) return -1;
    pthread_mutex_lock(&s->events->mu);
    if (base) *base = st.max_seq > e->last_seq ? st.max_seq : e->last_seq;
    *n_fresh = resolve_group(events, idx, n, now, &st, e, outcomes, fresh);
    pthread_mutex_unlock(&s->events->mu);
    stored_info_free(&st);
    for (size_t k = 0; k < n; k++) write[k] = outcomes[idx[k]] == APPEND_NEW;
    return 0;
}

/* The event index could not decide the events of one aggregate (it gave
 * 2 with `last`): decides them from ClickHouse and the cache, as without an
 * index, and records that in the index. evs and outs are scratch arrays of
 * n. Fills outcomes, `fresh` and `write` as decide_indexed. 0, 2 when the
 * index changed meanwhile (another appender: ask it again), 1 when the
 * index is not trusted, -1 on error. */
static int decide_fallback(ch_store *s, es_event *events, const size_t *idx, size_t n,
                           int64_t now, append_outcome *outcomes, const cache_entry *e,
                           cached_event *fresh, char *write, size_t *n_fresh, es_event *evs,
                           append_outcome *outs, int64_t last)
{
    int64_t base = 0;
    if (decide_stored(s, events, idx, n, now, outcomes, e, fresh, write, n_fresh, &base,
                      "undecided"))
        return -1;
    for (size_t k = 0; k < n; k++) {
        evs[k] = events[idx[k]];
        outs[k] = outcomes[idx[k]];
    }
    return s->index->ops->event_index_record(s->index, s->conn.database, s->index_epoch, evs,
                                             n, outs, last, base);
}

/* Decides the events of one aggregate (events[idx[0..n)]) through the
 * event index: seqs and outcomes come from it. A retry whose event is
 * neither buffered here nor stored in ClickHouse (its appender died before
 * the insert) is marked to be written again, under the indexed seq (rows
 * repeating a stored (aggregate, seq) collapse). Fills `fresh` (borrowed
 * id/key) and `write` for the rows to buffer. Events the index cannot
 * decide (an id or key it may have forgotten) go through decide_fallback.
 * Returns 0 with *n_fresh set, 1 when the index is not trusted (nothing
 * changed), -1 on error. */
static int decide_indexed(ch_store *s, es_event *events, const size_t *idx, size_t n,
                          int64_t now, append_outcome *outcomes, const cache_entry *e,
                          cached_event *fresh, char *write, size_t *n_fresh)
{
    chevents_cache *c = s->events;
    es_event *evs = malloc(n * sizeof *evs);
    append_outcome *outs = malloc(n * sizeof *outs);
    size_t *check = malloc(n * sizeof *check);
    int rc = evs && outs && check ? 0 : (diag_set(DIAG_INTERNAL, "out of memory"), -1);
    for (size_t k = 0; rc == 0 && k < n; k++) evs[k] = events[idx[k]];
    size_t n_check = 0;
    *n_fresh = 0;
    int64_t last = 0;
    int decided = 0; /* by the fallback */
    for (int tries = 0; rc == 0; tries++) {
        rc = s->index->ops->event_index_assign(s->index, s->conn.database, s->index_epoch, evs,
                                               n, now, outs, &last);
        if (rc != 2) break;
        if (tries == 3) {
            diag_set(DIAG_CONFLICT, "event_append: the event index of aggregate %s keeps "
                     "changing", events[idx[0]].aggregate_id);
            rc = -1;
            break;
        }
        rc = decide_fallback(s, events, idx, n, now, outcomes, e, fresh, write, n_fresh, evs,
                             outs, last);
        decided = rc != 2;
        if (rc == 2) rc = 0;
        else break;
    }
    if (rc == 0 && !decided) {
        *n_fresh = 0;
        pthread_mutex_lock(&c->mu);
        for (size_t k = 0; k < n; k++) {
            es_event *ev = &events[idx[k]];
            outcomes[idx[k]] = outs[k];
            ev->seq = evs[k].seq;
            ev->created_at = evs[k].created_at;
            write[k] = outs[k] == APPEND_NEW;
            if (write[k])
                fresh[(*n_fresh)++] =
                    (cached_event){ev->id, ev->idempotency_key, ev->seq, ev->created_at};
            else if (outs[k] == APPEND_RETRY && !find_event(e->evs, e->n, ev->id, 0) &&
                     !find_event(fresh, *n_fresh, ev->id, 0))
                check[n_check++] = k;
        }
        pthread_mutex_unlock(&c->mu);
    }
    if (rc == 0 && n_check) {
        size_t *at = malloc(n_check * sizeof *at);
        stored_info st;
        rc = at ? 0 : (diag_set(DIAG_INTERNAL, "out of memory"), -1);
        for (size_t i = 0; rc == 0 && i < n_check; i++) at[i] = idx[check[i]];
        if (rc == 0) rc = stored_lookup(s, events, at, n_check, "retry", &st);
        for (size_t i = 0; rc == 0 && i < n_check; i++) {
            es_event *ev = &events[at[i]];
            if (find_event(st.evs, st.n, ev->id, 0)) continue;
            write[check[i]] = 1;
            fresh[(*n_fresh)++] =
                (cached_event){ev->id, ev->idempotency_key, ev->seq, ev->created_at};
        }
        if (rc == 0) stored_info_free(&st);
        free(at);
    }
    free(evs);
    free(outs);
    free(check);
    return rc;
}

/* Appends the events of one aggregate (events[idx[0..n)]). */
static int append_group(ch_store *s, es_event *events, const size_t *idx, size_t n,
                        int64_t now, append_outcome *outcomes)
{
    chevents_cache *c = s->events;
    const es_event *first = &events[idx[0]];
    json_buf agg;
    jb_init(&agg);
    jb_printf(&agg, "%s\x1f%s\x1f%s", first->tenant_id, first->aggregate_type,
              first->aggregate_id);
    if (agg.oom) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    pthread_mutex_lock(&c->mu);
    cache_entry *e = cache_pin(s, c, agg.data);
    pthread_mutex_unlock(&c->mu);
    jb_free(&agg);
    if (!e) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }

    cached_event *fresh = malloc(n * sizeof *fresh);
    char *write = malloc(n);
    size_t n_fresh = 0;
    int rc = fresh && write ? 1 : (diag_set(DIAG_INTERNAL, "out of memory"), -1);
    if (rc == 1 && atomic_load(&s->index_ok)) {
        rc = decide_indexed(s, events, idx, n, now, outcomes, e, fresh, write, &n_fresh);
        if (rc == 1) {
            atomic_store(&s->index_ok, 0);
            log_warn("clickhouse %s: the event index in %s is gone; appends ask ClickHouse "
                     "for seqs again", s->conn.database, s->index->ops->name);
        }
    }
    if (rc == 1)
        rc = decide_stored(s, events, idx, n, now, outcomes, e, fresh, write, &n_fresh, NULL,
                           "no_index");
    if (rc == 0 && n_fresh) {
        json_buf rows;
        jb_init(&rows);
        for (size_t k = 0; k < n; k++)
            if (write[k]) chevents_row(&rows, &events[idx[k]]);
        chwriter_ticket ticket;
        rc = rows.oom ? (diag_set(DIAG_INTERNAL, "out of memory"), -1)
                      : chwriter_append(s->writer, "events", rows.data, rows.len, n_fresh,
                                        &ticket);
        jb_free(&rows);
        pthread_mutex_lock(&c->mu);
        if (rc == 0 && entry_record(e, fresh, n_fresh, ticket) != 0) {
            /* the rows are buffered but the cache could not remember them: a
             * later append would reuse their seqs, so wait for the insert */
            pthread_mutex_unlock(&c->mu);
            rc = chwriter_sync(s->writer, "events", s->opt.commit_timeout_ms);
            pthread_mutex_lock(&c->mu);
        }
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_lock(&c->mu);
    e->pins--;
    pthread_mutex_unlock(&c->mu);
    free(fresh);
    free(write);
    return rc;
}

/* The work of index_adopt (lock held). */
static int index_read(ch_store *s, es_store *index)
{
    json_buf q, resp;
    jb_init(&q);
    jb_init(&resp);
    jb_str(&q, "SELECT count() FROM (SELECT 1 FROM ");
    chsql_table(&q, s->conn.database, "events");
    jb_str(&q, " LIMIT 1) FORMAT RowBinary");
    int rc = q.oom ? (diag_set(DIAG_INTERNAL, "out of memory"), -1)
                   : chhttp_query(&s->conn, 0, q.data, NULL, 0, &resp);
    jb_free(&q);
    uint64_t stored = 0;
    if (rc != 0) {
        jb_free(&resp);
        /* no event log yet (before migrate): an empty one */
        if (chhttp_error_code() != CH_ERR_UNKNOWN_TABLE &&
            chhttp_error_code() != CH_ERR_UNKNOWN_DATABASE)
            return -1;
    } else {
        ch_rows r;
        chrows_init(&r, &resp);
        stored = chrows_u64(&r);
        jb_free(&resp);
        if (r.err) {
            diag_set(DIAG_BACKEND, "clickhouse: bad answer counting events");
            return -1;
        }
    }
    char *epoch = NULL;
    rc = index->ops->event_index_init(index, s->conn.database, stored == 0, &epoch);
    if (rc < 0) return -1;
    free(s->index_epoch);
    s->index_epoch = epoch;
    atomic_store(&s->index_ok, rc == 0);
    if (rc == 1)
        log_warn("clickhouse %s: no event index in %s over a non-empty event log; appends "
                 "ask ClickHouse for seqs", s->conn.database, index->ops->name);
    return 0;
}

/* Adopts the event index of clickhouse_store_use_index: counts the event
 * log and reads (or, over an empty log, creates) the index's marker. Runs
 * once, by the first append; others wait on the lock. 0 or -1 with a diag
 * (the next append tries again). */
static int index_adopt(ch_store *s)
{
    pthread_mutex_lock(&s->lock);
    int rc = atomic_load(&s->index_pending) ? 1 : 0;
    if (rc == 1) {
        rc = index_read(s, s->index);
        if (rc == 0) atomic_store(&s->index_pending, 0);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int clickhouse_store_use_index(es_store *base, es_store *index)
{
    ch_store *s = (ch_store *)base;
    s->index = index;
    atomic_store(&s->index_ok, 0);
    atomic_store(&s->index_pending, 1);
    return 0;
}

int chevents_append(es_store *base, es_event *events, size_t n, int64_t now,
                    append_outcome *outcomes)
{
    ch_store *s = (ch_store *)base;
    if (atomic_load(&s->index_pending) && index_adopt(s) != 0) return -1;
    for (size_t i = 0; i < n; i++) {
        es_event *ev = &events[i];
        if (!ev->id || !ev->tenant_id || !ev->aggregate_type || !ev->aggregate_id) {
            diag_set(DIAG_INVALID, "event_append: event %zu lacks id, tenant or aggregate", i);
            return -1;
        }
        if (!ev->idempotency_key && !(ev->idempotency_key = strdup(ev->id))) {
            diag_set(DIAG_INTERNAL, "out of memory");
            return -1;
        }
    }
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    char *done = calloc(n ? n : 1, 1);
    int rc = idx && done ? 0 : (diag_set(DIAG_INTERNAL, "out of memory"), -1);
    /* one group per aggregate, events kept in array order within it */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (done[i]) continue;
        size_t m = 0;
        for (size_t j = i; j < n; j++) {
            if (!done[j] && same_aggregate(&events[i], &events[j])) {
                idx[m++] = j;
                done[j] = 1;
            }
        }
        rc = append_group(s, events, idx, m, now, outcomes);
    }
    free(idx);
    free(done);
    return rc;
}

int chevents_read(es_store *base, const char *tenant_id, const char *aggregate_type,
                  const char *aggregate_id, int64_t after_seq, size_t limit,
                  es_event_cb cb, void *ud)
{
    ch_store *s = (ch_store *)base;
    if (chwriter_sync(s->writer, "events", s->opt.commit_timeout_ms) != 0) return -1;
    int rc;
    if (chscan_tail(s->scan, tenant_id, aggregate_type, aggregate_id, after_seq, limit, cb, ud,
                    &rc))
        return rc; /* the rest of the aggregate the last scan page ended in */
    es_event key = {.tenant_id = (char *)tenant_id,
                    .aggregate_type = (char *)aggregate_type,
                    .aggregate_id = (char *)aggregate_id};
    json_buf q, resp;
    jb_init(&q);
    jb_init(&resp);
    jb_str(&q, "SELECT " CHEVENTS_COLUMNS " FROM ");
    chsql_table(&q, s->conn.database, "events");
    where_aggregate(&q, &key);
    jb_printf(&q, " AND seq > %lld ORDER BY seq LIMIT 1 BY seq",
              (long long)(after_seq > 0 ? after_seq : 0));
    if (limit) jb_printf(&q, " LIMIT %zu", limit);
    jb_str(&q, " FORMAT RowBinary");
    rc = q.oom ? (diag_set(DIAG_INTERNAL, "out of memory"), -1)
               : chhttp_query(&s->conn, 0, q.data, NULL, 0, &resp);
    jb_free(&q);
    if (rc != 0) {
        jb_free(&resp);
        return -1;
    }
    rc = chevents_deliver(&resp, cb, ud);
    jb_free(&resp);
    return rc;
}

int chevents_decode(ch_rows *r, es_event *ev, json_buf *scratch)
{
    /* each String column copied NUL-terminated into scratch; pointers set
     * once it stops growing */
    char **fields[] = {&ev->id, &ev->tenant_id, &ev->aggregate_type, &ev->aggregate_id,
                       &ev->type, &ev->version, &ev->idempotency_key, &ev->data_json,
                       &ev->metadata_json};
    size_t at[sizeof fields / sizeof *fields], len, f = 0;
    memset(ev, 0, sizeof *ev);
    jb_reset(scratch);
    for (int col = 0; col < 12 && !r->err; col++) {
        if (col == 4 || col == 7 || col == 8) {
            uint64_t v = chrows_u64(r);
            if (col == 4) ev->seq = (int64_t)v;
            else if (col == 7) ev->occurred_at = (int64_t)v;
            else ev->created_at = (int64_t)v;
            continue;
        }
        const char *span = chrows_span(r, &len);
        at[f++] = scratch->len;
        if (span) jb_raw(scratch, span, len);
        jb_raw(scratch, "", 1);
    }
    if (r->err || scratch->oom) {
        memset(ev, 0, sizeof *ev);
        diag_set(r->err ? DIAG_BACKEND : DIAG_INTERNAL,
                 r->err ? "clickhouse: bad answer reading events" : "out of memory");
        return -1;
    }
    for (size_t i = 0; i < f; i++) *fields[i] = scratch->data + at[i];
    return 0;
}

int chevents_deliver(const json_buf *resp, es_event_cb cb, void *ud)
{
    ch_rows r;
    json_buf scratch;
    jb_init(&scratch);
    chrows_init(&r, resp);
    int rc = 0;
    while (rc == 0 && chrows_more(&r)) {
        es_event ev;
        rc = chevents_decode(&r, &ev, &scratch);
        if (rc == 0 && cb(ud, &ev) != 0) break;
    }
    jb_free(&scratch);
    return rc;
}
