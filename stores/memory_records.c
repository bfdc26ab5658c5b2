/* memory_records.c: the memory store's record store: append-only map
 * records per (tenant, table), deduplicated by record id. */
#include "memory_internal.h"
#include "diag.h"

#include <stdlib.h>
#include <string.h>

static void memory_record_free(mrecord *r)
{
    free(r->key);
    free(r->record_id);
    free(r->aggregate_id);
    free(r->json);
    free(r);
}

/* Undo of an append: the record is the newest of its table. */
static void memory_record_unappend(mstore *s, void *p)
{
    mrecord *r = p;
    mmap_remove(&s->records, &r->node);
    r->table->n--;
    memory_record_free(r);
}

/* The table (tenant, name), created empty when absent. NULL with a diag. */
static mtable *memory_record_table(mstore *s, const char *tenant_id, const char *table)
{
    char *key = mmap_key(2, tenant_id, table);
    if (!key) return NULL;
    mmap_node *node = mmap_get(&s->tables, key);
    if (node) {
        free(key);
        return MMAP_ENTRY(node, mtable, node);
    }
    mtable *t = calloc(1, sizeof *t);
    if (!t) {
        free(key);
        diag_set(DIAG_INTERNAL, "out of memory creating a record table");
        return NULL;
    }
    t->key = key;
    mmap_insert(&s->tables, &t->node, t->key);
    return t;
}

/* Stores a new record under its key. -1 with a diag on OOM. */
static int memory_record_insert(mstore *s, mtable *t, char *key, const char *record_id,
                                const char *aggregate_id, const char *record_json,
                                int64_t created_at)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        mrecord **items = realloc(t->items, cap * sizeof *items);
        if (!items) goto oom;
        t->items = items;
        t->cap = cap;
    }
    mrecord *r = calloc(1, sizeof *r);
    if (!r) goto oom;
    r->key = key;
    r->table = t;
    r->record_id = strdup(record_id);
    r->aggregate_id = strdup(aggregate_id ? aggregate_id : "");
    r->json = strdup(record_json ? record_json : "null");
    r->created_at = created_at;
    if (!r->record_id || !r->aggregate_id || !r->json ||
        memory_store_undo_push(s, memory_record_unappend, NULL, r) != 0) {
        r->key = NULL; /* still the caller's */
        memory_record_free(r);
        goto oom;
    }
    t->items[t->n++] = r;
    mmap_insert(&s->records, &r->node, r->key);
    return 0;
oom:
    diag_set(DIAG_INTERNAL, "out of memory appending a record");
    return -1;
}

int memory_record_append(es_store *base, const char *tenant_id, const char *table,
                         const char *record_id, const char *aggregate_id,
                         const char *record_json, int64_t created_at)
{
    mstore *s = (mstore *)base;
    if (!record_id) {
        diag_set(DIAG_INVALID, "record_append: record id missing");
        return -1;
    }
    char *key = mmap_key(3, tenant_id, table, record_id);
    if (!key) return -1;
    int rc = 0;
    memory_store_lock(s);
    if (mmap_get(&s->records, key)) {
        free(key);
    } else {
        mtable *t = memory_record_table(s, tenant_id, table);
        rc = t ? memory_record_insert(s, t, key, record_id, aggregate_id, record_json,
                                      created_at)
               : -1;
        if (rc != 0) free(key);
    }
    if (rc == 0) memory_store_undo_settle(s);
    memory_store_unlock(s);
    return rc;
}

/* A record copied out of the store, so callbacks run without the lock. */
typedef struct mrecord_copy {
    char *record_id, *aggregate_id, *json;
    int64_t created_at;
} mrecord_copy;

int memory_record_list(es_store *base, const char *tenant_id, const char *table,
                       size_t limit, es_record_cb cb, void *ud)
{
    mstore *s = (mstore *)base;
    char *key = mmap_key(2, tenant_id, table);
    if (!key) return -1;
    mrecord_copy *copies = NULL;
    size_t n = 0;
    int rc = 0;
    memory_store_lock(s);
    mmap_node *node = mmap_get(&s->tables, key);
    if (node) {
        const mtable *t = MMAP_ENTRY(node, mtable, node);
        size_t want = limit && limit < t->n ? limit : t->n;
        copies = calloc(want ? want : 1, sizeof *copies);
        if (!copies) rc = -1;
        for (size_t i = 0; rc == 0 && i < want; i++, n++) {
            const mrecord *r = t->items[i];
            copies[i].record_id = strdup(r->record_id);
            copies[i].aggregate_id = strdup(r->aggregate_id);
            copies[i].json = strdup(r->json);
            copies[i].created_at = r->created_at;
            if (!copies[i].record_id || !copies[i].aggregate_id || !copies[i].json) rc = -1;
        }
    }
    memory_store_unlock(s);
    free(key);
    if (rc != 0) diag_set(DIAG_INTERNAL, "out of memory listing records");
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (cb(ud, copies[i].record_id, copies[i].aggregate_id, copies[i].json,
               copies[i].created_at))
            break;
    for (size_t i = 0; i < n; i++) {
        free(copies[i].record_id);
        free(copies[i].aggregate_id);
        free(copies[i].json);
    }
    free(copies);
    return rc;
}

static void memory_record_free_table(mmap_node *node, void *ud)
{
    (void)ud;
    mtable *t = MMAP_ENTRY(node, mtable, node);
    for (size_t i = 0; i < t->n; i++) memory_record_free(t->items[i]);
    free(t->items);
    free(t->key);
    free(t);
}

void memory_records_free(mstore *s)
{
    mmap_each(&s->tables, memory_record_free_table, NULL);
}
