/* send_many.h: the engine's batched send: many commands of one kind for one
 * tenant validated under one lock and enqueued in one queue call (one
 * transaction on SQLite), for OTLP requests of hundreds of spans. */
#ifndef ES_SEND_MANY_H
#define ES_SEND_MANY_H

#include <stddef.h>

#include "engine.h"

/* Validates and enqueues n payloads as `command` of `pipeline` for
 * tenant_id. refusals[i] (an array of n, filled by the call) is NULL for an
 * accepted payload, or a malloc'd message naming what is wrong with it (the
 * caller frees). Returns the number accepted (possibly 0), or -1 with a diag
 * when nothing was enqueued: DIAG_NOT_FOUND (unknown pipeline or command),
 * DIAG_BUSY (backpressure) or a backend error; refusals are then NULL.
 * Thread-safe. */
long engine_send_many(es_engine *e, const char *tenant_id, const char *pipeline,
                      const char *command, char *const *payloads, size_t n,
                      char **refusals);

#endif
