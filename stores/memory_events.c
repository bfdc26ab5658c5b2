/* memory_events.c: the memory store's event log: per-aggregate seq,
 * idempotent append, tenant-scoped reads. */
#include "memory_internal.h"
#include "diag.h"

#include <stdlib.h>
#include <string.h>

static void memory_event_free(mevent *e)
{
    event_clear(&e->ev);
    free(e->id_key);
    free(e->ikey_key);
    free(e);
}

/* Undo of an append: the event is the newest of its aggregate. */
static void memory_event_unappend(mstore *s, void *p)
{
    mevent *e = p;
    mmap_remove(&s->event_ids, &e->id_node);
    mmap_remove(&s->event_ikeys, &e->ikey_node);
    e->agg->n--;
    memory_event_free(e);
}

/* The aggregate under `key`, created empty when absent (an empty aggregate
 * left by a rollback is harmless). NULL with a diag on OOM. */
static magg *memory_event_aggregate(mstore *s, const es_event *ev)
{
    char *key = mmap_key(3, ev->tenant_id, ev->aggregate_type, ev->aggregate_id);
    if (!key) return NULL;
    mmap_node *node = mmap_get(&s->aggregates, key);
    if (node) {
        free(key);
        return MMAP_ENTRY(node, magg, node);
    }
    magg *agg = calloc(1, sizeof *agg);
    if (!agg) {
        free(key);
        diag_set(DIAG_INTERNAL, "out of memory creating an aggregate");
        return NULL;
    }
    agg->key = key;
    mmap_insert(&s->aggregates, &agg->node, agg->key);
    return agg;
}

/* A stored copy of `src` with seq and created_at assigned and its index keys
 * built. NULL with a diag on OOM. */
static mevent *memory_event_new(magg *agg, const es_event *src, int64_t now)
{
    mevent *e = calloc(1, sizeof *e);
    if (!e) goto oom;
    if (event_copy(&e->ev, src) != 0) {
        free(e);
        return NULL;
    }
    e->agg = agg;
    e->ev.seq = (int64_t)agg->n + 1;
    e->ev.created_at = now;
    if (!e->ev.data_json) e->ev.data_json = strdup("{}");
    if (!e->ev.metadata_json) e->ev.metadata_json = strdup("{}");
    e->id_key = mmap_key(2, src->tenant_id, src->id);
    e->ikey_key = mmap_key(2, agg->key, src->idempotency_key);
    if (!e->ev.data_json || !e->ev.metadata_json || !e->id_key || !e->ikey_key) {
        memory_event_free(e);
        goto oom;
    }
    return e;
oom:
    diag_set(DIAG_INTERNAL, "out of memory storing an event");
    return NULL;
}

/* Appends one event (outcome in *outcome). 0, or -1 with a diag. */
static int memory_event_append_one(mstore *s, es_event *ev, int64_t now,
                                   append_outcome *outcome)
{
    char *id_key = mmap_key(2, ev->tenant_id, ev->id);
    if (!id_key) return -1;
    mmap_node *found = mmap_get(&s->event_ids, id_key);
    free(id_key);
    if (found) {
        const mevent *stored = MMAP_ENTRY(found, mevent, id_node);
        ev->seq = stored->ev.seq;
        ev->created_at = stored->ev.created_at;
        *outcome = APPEND_RETRY;
        return 0;
    }
    magg *agg = memory_event_aggregate(s, ev);
    if (!agg) return -1;
    char *ikey = mmap_key(2, agg->key, ev->idempotency_key);
    if (!ikey) return -1;
    found = mmap_get(&s->event_ikeys, ikey);
    free(ikey);
    if (found) {
        *outcome = APPEND_DUPLICATE;
        return 0;
    }
    if (agg->n == agg->cap) {
        size_t cap = agg->cap ? agg->cap * 2 : 8;
        mevent **events = realloc(agg->events, cap * sizeof *events);
        if (!events) {
            diag_set(DIAG_INTERNAL, "out of memory growing an aggregate");
            return -1;
        }
        agg->events = events;
        agg->cap = cap;
    }
    mevent *e = memory_event_new(agg, ev, now);
    if (!e) return -1;
    if (memory_store_undo_push(s, memory_event_unappend, NULL, e) != 0) {
        memory_event_free(e);
        return -1;
    }
    agg->events[agg->n++] = e;
    mmap_insert(&s->event_ids, &e->id_node, e->id_key);
    mmap_insert(&s->event_ikeys, &e->ikey_node, e->ikey_key);
    ev->seq = e->ev.seq;
    ev->created_at = now;
    *outcome = APPEND_NEW;
    return 0;
}

int memory_event_append(es_store *base, es_event *events, size_t n, int64_t now,
                        append_outcome *outcomes)
{
    mstore *s = (mstore *)base;
    for (size_t i = 0; i < n; i++) {
        const es_event *ev = &events[i];
        if (!ev->id || !ev->idempotency_key || !ev->tenant_id || !ev->aggregate_type ||
            !ev->aggregate_id || !ev->type) {
            diag_set(DIAG_INVALID,
                     "event %zu lacks id, idempotency_key, tenant, aggregate or type", i);
            return -1;
        }
    }
    memory_store_lock(s);
    size_t mark = memory_store_undo_mark(s);
    for (size_t i = 0; i < n; i++) {
        if (memory_event_append_one(s, &events[i], now, &outcomes[i]) != 0) {
            memory_store_undo_to(s, mark);
            memory_store_unlock(s);
            return -1;
        }
    }
    memory_store_undo_settle(s);
    memory_store_unlock(s);
    return 0;
}

int memory_event_read(es_store *base, const char *tenant_id, const char *aggregate_type,
                      const char *aggregate_id, int64_t after_seq, size_t limit,
                      es_event_cb cb, void *ud)
{
    mstore *s = (mstore *)base;
    char *key = mmap_key(3, tenant_id, aggregate_type, aggregate_id);
    if (!key) return -1;
    /* Copy the range out so that cb runs without the lock. */
    es_event_list copies = {0};
    int rc = 0;
    memory_store_lock(s);
    mmap_node *node = mmap_get(&s->aggregates, key);
    if (node) {
        const magg *agg = MMAP_ENTRY(node, magg, node);
        size_t from = after_seq > 0 ? (size_t)after_seq : 0;
        size_t to = agg->n;
        if (limit && from < to && to - from > limit) to = from + limit;
        for (size_t i = from; i < to && rc == 0; i++) {
            es_event *dst = event_list_push(&copies);
            if (!dst || event_copy(dst, &agg->events[i]->ev) != 0) rc = -1;
        }
    }
    memory_store_unlock(s);
    free(key);
    for (size_t i = 0; rc == 0 && i < copies.len; i++)
        if (cb(ud, &copies.items[i])) break;
    event_list_free(&copies);
    return rc;
}

int memory_event_last_seq(es_store *base, const char *tenant_id, const char *aggregate_type,
                          const char *aggregate_id, int64_t *seq)
{
    mstore *s = (mstore *)base;
    char *key = mmap_key(3, tenant_id, aggregate_type, aggregate_id);
    if (!key) return -1;
    memory_store_lock(s);
    mmap_node *node = mmap_get(&s->aggregates, key);
    *seq = node ? (int64_t)MMAP_ENTRY(node, magg, node)->n : 0;
    memory_store_unlock(s);
    free(key);
    return 0;
}

static void memory_event_free_aggregate(mmap_node *node, void *ud)
{
    (void)ud;
    magg *agg = MMAP_ENTRY(node, magg, node);
    for (size_t i = 0; i < agg->n; i++) memory_event_free(agg->events[i]);
    free(agg->events);
    free(agg->key);
    free(agg);
}

void memory_events_free(mstore *s)
{
    mmap_each(&s->aggregates, memory_event_free_aggregate, NULL);
}
