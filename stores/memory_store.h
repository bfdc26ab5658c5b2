/* memory_store.h: the in-process backend implementing all four kinds of
 * store.h (event log, job queue, fold store, record store), for tests. */
#ifndef ES_MEMORY_STORE_H
#define ES_MEMORY_STORE_H

#include "store.h"

/* Opens an empty memory store. Everything lives in this process and is lost
 * on close. Thread-safe; tx_begin..tx_commit holds a store-wide lock, so a
 * unit of work is atomic and invisible to other threads until commit, and
 * tx_rollback discards its writes. Inside a unit of work, queue changes
 * (enqueue, complete, fail, parked retry/skip) take effect at commit, while
 * event, fold and record writes are visible at once to the calling thread;
 * claims and lease extensions are never part of a unit of work.
 * Returns a store owned by the caller (ops->close), or NULL with a diag on
 * OOM. */
es_store *memory_store_open(void);

#endif
