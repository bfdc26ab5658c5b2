/* memory_folds.c: the memory store's fold store: state JSON and last applied
 * seq per (tenant, table, key), written together. */
#include "memory_internal.h"
#include "diag.h"

#include <stdlib.h>
#include <string.h>

/* What a fold_put replaced, to restore it on rollback. */
typedef struct mfold_undo {
    mfold *fold;
    int created;
    char *state;
    int64_t last_seq, updated_at;
} mfold_undo;

static void memory_fold_free(mfold *f)
{
    free(f->state);
    free(f->key);
    free(f);
}

static void memory_fold_revert(mstore *s, void *p)
{
    mfold_undo *u = p;
    if (u->created) {
        mmap_remove(&s->folds, &u->fold->node);
        memory_fold_free(u->fold);
        return;
    }
    free(u->fold->state);
    u->fold->state = u->state;
    u->fold->last_seq = u->last_seq;
    u->fold->updated_at = u->updated_at;
    u->state = NULL;
}

static void memory_fold_undo_drop(void *p)
{
    mfold_undo *u = p;
    free(u->state);
    free(u);
}

int memory_fold_get(es_store *base, const char *tenant_id, const char *table,
                    const char *key, char **state_json, int64_t *last_seq)
{
    mstore *s = (mstore *)base;
    char *k = mmap_key(3, tenant_id, table, key);
    if (!k) return -1;
    int rc = 1;
    memory_store_lock(s);
    mmap_node *node = mmap_get(&s->folds, k);
    if (node) {
        const mfold *f = MMAP_ENTRY(node, mfold, node);
        *state_json = strdup(f->state);
        if (*state_json) {
            *last_seq = f->last_seq;
            rc = 0;
        } else {
            diag_set(DIAG_INTERNAL, "out of memory reading a fold state");
            rc = -1;
        }
    }
    memory_store_unlock(s);
    free(k);
    return rc;
}

int memory_fold_put(es_store *base, const char *tenant_id, const char *table,
                    const char *key, const char *state_json, int64_t last_seq,
                    int64_t updated_at)
{
    mstore *s = (mstore *)base;
    char *k = mmap_key(3, tenant_id, table, key);
    char *state = strdup(state_json ? state_json : "null");
    mfold_undo *u = calloc(1, sizeof *u);
    if (!k || !state || !u) {
        free(k);
        free(state);
        free(u);
        diag_set(DIAG_INTERNAL, "out of memory storing a fold state");
        return -1;
    }
    memory_store_lock(s);
    mmap_node *node = mmap_get(&s->folds, k);
    mfold *f = node ? MMAP_ENTRY(node, mfold, node) : calloc(1, sizeof *f);
    if (!f || memory_store_undo_push(s, memory_fold_revert, memory_fold_undo_drop, u) != 0) {
        memory_store_unlock(s);
        if (!node) free(f);
        free(k);
        free(state);
        free(u);
        diag_set(DIAG_INTERNAL, "out of memory storing a fold state");
        return -1;
    }
    u->fold = f;
    if (node) {
        free(k);
        u->state = f->state;
        u->last_seq = f->last_seq;
        u->updated_at = f->updated_at;
    } else {
        u->created = 1;
        f->key = k;
        mmap_insert(&s->folds, &f->node, f->key);
    }
    f->state = state;
    f->last_seq = last_seq;
    f->updated_at = updated_at;
    memory_store_undo_settle(s);
    memory_store_unlock(s);
    return 0;
}

static void memory_fold_free_node(mmap_node *node, void *ud)
{
    (void)ud;
    memory_fold_free(MMAP_ENTRY(node, mfold, node));
}

void memory_folds_free(mstore *s)
{
    mmap_each(&s->folds, memory_fold_free_node, NULL);
}
