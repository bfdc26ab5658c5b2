/* send_many.h: the engine's batched send: the commands of one request (an
 * OTLP export of hundreds of spans) converted and validated in one Lua call
 * on a pooled host, then enqueued in one queue call (one transaction on
 * SQLite), the commands of one aggregate as one job (one queue row). engine_otlp_ingest (engine.h) is its entry point. */
#ifndef ES_SEND_MANY_H
#define ES_SEND_MANY_H

#include <stddef.h>

#include "engine.h"

/* Enqueues n prepared commands of `command` of `pipeline` for tenant_id
 * (aggregate_ids[i] and command_jsons[i] as lua_host_prepare_command gives
 * them) in one queue call. 0, or -1 with a diag and nothing enqueued:
 * DIAG_BUSY (a --reject pause, or backpressure) or a backend error.
 * Thread-safe. */
int engine_enqueue_prepared(es_engine *e, const char *tenant_id, const char *pipeline,
                            const char *command, char *const *aggregate_ids,
                            char *const *command_jsons, size_t n);

#endif
