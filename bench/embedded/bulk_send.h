/* bulk_send.h: a bulk load of commands in large transactions, validated on
 * a second thread while the calling thread writes: the shape of an ingest
 * server whose request threads validate while a writer commits. */
#ifndef ES_BENCH_BULK_SEND_H
#define ES_BENCH_BULK_SEND_H

#include <stddef.h>

#include "engine.h"

/* Writes the JSON payload of command i into buf (len bytes). */
typedef void (*bulk_payload_fn)(void *ud, long i, char *buf, size_t len);

/* Sends n commands `command` of `pipeline` for tenant_id, payload i from
 * payload(ud, i, ...): a validator thread prepares them `batch` at a time
 * (engine_prepare_many) while the calling thread enqueues each prepared
 * batch (engine_send_prepared) in transactions of at least tx_rows
 * commands (backends_tx_begin/commit). 0, or -1 with a diag (the open
 * transaction is rolled back; earlier ones stay). */
int bulk_send(es_engine *e, const char *tenant_id, const char *pipeline, const char *command,
              long n, long batch, long tx_rows, bulk_payload_fn payload, void *ud);

#endif
