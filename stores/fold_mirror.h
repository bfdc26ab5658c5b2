/* fold_mirror.h: a fold store that keeps the state of record in one store
 * (Redis or SQLite: where the fold reads its own last write, never a lagging
 * replica) and writes a queryable copy to another (ClickHouse, batched). */
#ifndef ES_FOLD_MIRROR_H
#define ES_FOLD_MIRROR_H

#include "store.h"

/* Wraps `primary` (fold_get/fold_put of record; fold_scan, fold_swap,
 * fold_drop and replay checkpoints for a replay) and `mirror` (fold_put, and
 * fold_drop when it has one: the copy follows a swap). Borrows both: closing the mirror store closes neither, and its
 * units of work are no-ops (the engine brackets the real stores itself).
 * NULL on OOM. */
es_store *fold_mirror_open(es_store *primary, es_store *mirror);

/* When s is a mirror made by fold_mirror_open: its primary, and its copy
 * in *copy (for a writer that puts the copy and the state of record
 * apart, as inline_folds_run does). NULL when s is not a mirror. */
es_store *fold_mirror_parts(es_store *s, es_store **copy);

#endif
