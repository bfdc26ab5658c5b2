/* fold_mirror.c: state of record in one store, queryable copy in another
 * (see fold_mirror.h).
 *
 * Replay: scans, drops, swaps and checkpoints go to the primary, which
 * holds the state of record. Shadow rows are mirrored like any table (the
 * copy gets a "<table>__replay" table, queryable while the replay runs).
 * After the primary's swap the copy is brought to the same rows: the
 * swapped-in states are put again under the live table (a row of the copy
 * with the same last_seq is replaced by the newer insert), rows the swap
 * deleted are dropped from the copy, and so are the copy's shadow rows.
 * The copy is thus updated just after the state of record, not in the same
 * instant: a reader of the copy sees the old row until the new one lands.
 *
 * Redelivery: a unit whose fold_put reached the primary but whose copy row
 * died unwritten (kill -9 before the ClickHouse flush) is redelivered, finds
 * every event already applied and puts nothing. So the state a fold_get
 * read is remembered (per thread) and put again into the copy at the
 * unit's commit (tx_commit runs before the copy's asynchronous commit, so
 * the unit waits for that row too) unless the unit put the key itself. A
 * repeated row collapses: the copy is ReplacingMergeTree(last_seq). */
#include "fold_mirror.h"
#include "clock.h"
#include "diag.h"

#include <stdlib.h>
#include <string.h>

typedef struct fold_mirror {
    es_store base;
    es_store *primary;
    es_store *mirror;
} fold_mirror;

/* The state the calling thread's last fold_get read, to copy again. */
typedef struct read_state {
    fold_mirror *m; /* NULL: none */
    char *tenant_id, *table, *key, *state_json;
    int64_t last_seq;
} read_state;

static _Thread_local read_state last_read;

static void read_forget(void)
{
    free(last_read.tenant_id);
    free(last_read.table);
    free(last_read.key);
    free(last_read.state_json);
    memset(&last_read, 0, sizeof last_read);
}

static void mirror_close(es_store *s)
{
    if (last_read.m == (fold_mirror *)s) read_forget();
    free(s);
}

static int mirror_fold_get(es_store *s, const char *tenant_id, const char *table,
                           const char *key, char **state_json, int64_t *last_seq)
{
    fold_mirror *m = (fold_mirror *)s;
    int rc = m->primary->ops->fold_get(m->primary, tenant_id, table, key, state_json, last_seq);
    read_forget();
    if (rc == 0) {
        last_read = (read_state){m, strdup(tenant_id), strdup(table), strdup(key),
                                 strdup(*state_json), *last_seq};
        /* out of memory: nothing to copy again (only a redelivery needs it) */
        if (!last_read.tenant_id || !last_read.table || !last_read.key ||
            !last_read.state_json)
            read_forget();
    }
    return rc;
}

/* Copies the state read by this thread's fold_get again, unless the unit
 * put that key itself (fold_put forgot it). */
static int mirror_tx_commit(es_store *s)
{
    fold_mirror *m = (fold_mirror *)s;
    if (last_read.m != m) return 0;
    int rc = m->mirror->ops->fold_put(m->mirror, last_read.tenant_id, last_read.table,
                                      last_read.key, last_read.state_json,
                                      last_read.last_seq, clock_now_ms());
    read_forget();
    return rc;
}

static void mirror_tx_rollback(es_store *s)
{
    if (last_read.m == (fold_mirror *)s) read_forget();
}

/* The copy is written after the state of record: a failure of the copy fails
 * the unit, which is redone; the primary keeps the same (seq, state). */
static int mirror_fold_put(es_store *s, const char *tenant_id, const char *table,
                           const char *key, const char *state_json, int64_t last_seq,
                           int64_t updated_at)
{
    fold_mirror *m = (fold_mirror *)s;
    if (last_read.m == m && strcmp(last_read.tenant_id, tenant_id) == 0 &&
        strcmp(last_read.table, table) == 0 && strcmp(last_read.key, key) == 0)
        read_forget();
    if (m->primary->ops->fold_put(m->primary, tenant_id, table, key, state_json, last_seq,
                                  updated_at) != 0)
        return -1;
    return m->mirror->ops->fold_put(m->mirror, tenant_id, table, key, state_json, last_seq,
                                    updated_at);
}

/* -1 with DIAG_INVALID unless the primary implements `op` (not NULL). */
static int need(const fold_mirror *m, const void *op)
{
    if (op) return 0;
    diag_set(DIAG_INVALID, "replay is not supported by the %s fold store",
             m->primary->ops->name);
    return -1;
}

static int mirror_fold_scan(es_store *s, const char *tenant_id, const char *table,
                            es_fold_cb cb, void *ud)
{
    fold_mirror *m = (fold_mirror *)s;
    if (need(m, (const void *)m->primary->ops->fold_scan) != 0) return -1;
    return m->primary->ops->fold_scan(m->primary, tenant_id, table, cb, ud);
}

/* Drops from the copy too when it can (rows it keeps would only be stale
 * shadow rows, never read by the engine). */
static int mirror_fold_drop(es_store *s, const char *tenant_id, const char *table,
                            const char *key)
{
    fold_mirror *m = (fold_mirror *)s;
    if (need(m, (const void *)m->primary->ops->fold_drop) != 0 ||
        m->primary->ops->fold_drop(m->primary, tenant_id, table, key) != 0)
        return -1;
    return m->mirror->ops->fold_drop ? m->mirror->ops->fold_drop(m->mirror, tenant_id, table, key)
                                     : 0;
}

/* Rows of a fold table collected by a scan, in its (tenant, key) order. */
typedef struct row {
    char *tenant_id, *key, *state_json;
    int64_t last_seq;
} row;

typedef struct rows {
    row *items;
    size_t n, cap;
    const char *only_key; /* NULL = every key */
    int keep_state;
    int oom;
} rows;

static int collect(void *ud, const char *tenant_id, const char *key, const char *state_json,
                   int64_t last_seq)
{
    rows *l = ud;
    if (l->only_key && strcmp(l->only_key, key) != 0) return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        row *grown = realloc(l->items, cap * sizeof *grown);
        if (!grown) return l->oom = 1;
        l->items = grown;
        l->cap = cap;
    }
    row *r = &l->items[l->n++];
    r->tenant_id = strdup(tenant_id);
    r->key = strdup(key);
    r->state_json = l->keep_state ? strdup(state_json) : NULL;
    r->last_seq = last_seq;
    if (!r->tenant_id || !r->key || (l->keep_state && !r->state_json)) l->oom = 1;
    return l->oom;
}

static void rows_free(rows *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].tenant_id);
        free(l->items[i].key);
        free(l->items[i].state_json);
    }
    free(l->items);
}

static int scan_rows(fold_mirror *m, const char *tenant_id, const char *table, rows *l)
{
    if (m->primary->ops->fold_scan(m->primary, tenant_id, table, collect, l) != 0) return -1;
    if (!l->oom) return 0;
    diag_set(DIAG_INTERNAL, "out of memory swapping %s", table);
    return -1;
}

static int row_cmp(const row *a, const row *b)
{
    int c = strcmp(a->tenant_id, b->tenant_id);
    return c ? c : strcmp(a->key, b->key);
}

/* The primary swaps; then the copy gets the swapped-in states, loses the
 * rows the swap deleted (none with only_shadowed) and its shadow rows. */
static int mirror_fold_swap(es_store *s, const char *tenant_id, const char *table,
                            const char *shadow, const char *key, int only_shadowed)
{
    fold_mirror *m = (fold_mirror *)s;
    if (need(m, (const void *)m->primary->ops->fold_swap) != 0 ||
        need(m, (const void *)m->primary->ops->fold_scan) != 0)
        return -1;
    rows fresh = {.only_key = key, .keep_state = 1}, old = {.only_key = key};
    int rc = scan_rows(m, tenant_id, shadow, &fresh);
    if (rc == 0 && !only_shadowed) rc = scan_rows(m, tenant_id, table, &old);
    if (rc == 0)
        rc = m->primary->ops->fold_swap(m->primary, tenant_id, table, shadow, key,
                                        only_shadowed);
    int64_t now = clock_now_ms();
    for (size_t i = 0; rc == 0 && i < fresh.n; i++) {
        row *r = &fresh.items[i];
        rc = m->mirror->ops->fold_put(m->mirror, r->tenant_id, table, r->key, r->state_json,
                                      r->last_seq, now);
    }
    if (m->mirror->ops->fold_drop) {
        /* old rows without a fresh one were deleted (both lists sorted) */
        for (size_t i = 0, j = 0; rc == 0 && i < old.n; i++) {
            while (j < fresh.n && row_cmp(&fresh.items[j], &old.items[i]) < 0) j++;
            if (j < fresh.n && row_cmp(&fresh.items[j], &old.items[i]) == 0) continue;
            rc = m->mirror->ops->fold_drop(m->mirror, old.items[i].tenant_id, table,
                                           old.items[i].key);
        }
        if (rc == 0) rc = m->mirror->ops->fold_drop(m->mirror, tenant_id, shadow, key);
    }
    rows_free(&fresh);
    rows_free(&old);
    return rc;
}

static int mirror_checkpoint_get(es_store *s, const char *pipeline, const char *projection,
                                 es_replay_checkpoint *out)
{
    fold_mirror *m = (fold_mirror *)s;
    if (need(m, (const void *)m->primary->ops->replay_checkpoint_get) != 0) return -1;
    return m->primary->ops->replay_checkpoint_get(m->primary, pipeline, projection, out);
}

static int mirror_checkpoint_put(es_store *s, const char *pipeline, const char *projection,
                                 const es_replay_checkpoint *cp)
{
    fold_mirror *m = (fold_mirror *)s;
    if (need(m, (const void *)m->primary->ops->replay_checkpoint_put) != 0) return -1;
    return m->primary->ops->replay_checkpoint_put(m->primary, pipeline, projection, cp);
}

static const es_store_ops mirror_ops = {
    .name = "fold-mirror",
    .close = mirror_close,
    .tx_commit = mirror_tx_commit,
    .tx_rollback = mirror_tx_rollback,
    .fold_get = mirror_fold_get,
    .fold_put = mirror_fold_put,
    .fold_scan = mirror_fold_scan,
    .fold_swap = mirror_fold_swap,
    .fold_drop = mirror_fold_drop,
    .replay_checkpoint_get = mirror_checkpoint_get,
    .replay_checkpoint_put = mirror_checkpoint_put,
};

es_store *fold_mirror_open(es_store *primary, es_store *mirror)
{
    fold_mirror *m = calloc(1, sizeof *m);
    if (!m) {
        diag_set(DIAG_INTERNAL, "out of memory opening a fold mirror");
        return NULL;
    }
    m->base.ops = &mirror_ops;
    m->primary = primary;
    m->mirror = mirror;
    return &m->base;
}

es_store *fold_mirror_parts(es_store *s, es_store **copy)
{
    if (s->ops != &mirror_ops) return NULL;
    fold_mirror *m = (fold_mirror *)s;
    *copy = m->mirror;
    return m->primary;
}
