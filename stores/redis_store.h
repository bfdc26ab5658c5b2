/* redis_store.h: the Redis backend: the job queue (per-group FIFO with
 * leases, run as Lua scripts inside Redis) and the fold state of record, for
 * the distributed mode. Key layout: stores/redis_queue.c. */
#ifndef ES_REDIS_STORE_H
#define ES_REDIS_STORE_H

#include <stddef.h>

#include "store.h"

/* Opens a store on the Redis at `url` (redis://[[user]:password@]host[:port][/db],
 * port 6379 and db 0 by default) whose queue keys all carry the hash tag
 * {queue_name}. Implements the queue and fold kinds of store.h; the others
 * are NULL. Connections are made per calling thread, lazily, so open
 * succeeds while Redis is down (see redis_store_healthy). Returns a store
 * owned by the caller (free with ops->close), or NULL with DIAG_INVALID for
 * a malformed url or name. */
es_store *redis_store_open(const char *url, const char *queue_name);

/* 1 when the calling thread's connection answers PING now (reconnecting
 * once if needed, without backoff), else 0. For readiness probes. */
int redis_store_healthy(es_store *s);

/* Largest payload accepted by queue_enqueue (default 1 MiB); larger jobs
 * fail the whole call with DIAG_INVALID naming the job. */
void redis_store_set_max_payload(es_store *s, size_t bytes);

/* How long one operation keeps reconnecting (with exponential backoff)
 * through transient errors before failing with DIAG_IO (default 5000 ms). */
void redis_store_set_retry_ms(es_store *s, int ms);

#endif
