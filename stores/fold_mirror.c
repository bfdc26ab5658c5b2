/* fold_mirror.c: state of record in one store, queryable copy in another
 * (see fold_mirror.h). */
#include "fold_mirror.h"
#include "diag.h"

#include <stdlib.h>

typedef struct fold_mirror {
    es_store base;
    es_store *primary;
    es_store *mirror;
} fold_mirror;

static void mirror_close(es_store *s) { free(s); }

static int mirror_fold_get(es_store *s, const char *tenant_id, const char *table,
                           const char *key, char **state_json, int64_t *last_seq)
{
    fold_mirror *m = (fold_mirror *)s;
    return m->primary->ops->fold_get(m->primary, tenant_id, table, key, state_json, last_seq);
}

/* The copy is written after the state of record: a failure of the copy fails
 * the unit, which is redone; the primary keeps the same (seq, state). */
static int mirror_fold_put(es_store *s, const char *tenant_id, const char *table,
                           const char *key, const char *state_json, int64_t last_seq,
                           int64_t updated_at)
{
    fold_mirror *m = (fold_mirror *)s;
    if (m->primary->ops->fold_put(m->primary, tenant_id, table, key, state_json, last_seq,
                                  updated_at) != 0)
        return -1;
    return m->mirror->ops->fold_put(m->mirror, tenant_id, table, key, state_json, last_seq,
                                    updated_at);
}

static const es_store_ops mirror_ops = {
    .name = "fold-mirror",
    .close = mirror_close,
    .fold_get = mirror_fold_get,
    .fold_put = mirror_fold_put,
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
