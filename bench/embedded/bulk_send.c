/* bulk_send.c: see bulk_send.h. The validator runs at most RING batches
 * ahead of the writer. */
#include "bulk_send.h"

#include "diag.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define RING 4
#define PAYLOAD_MAX 512

/* One batch validated and waiting to be enqueued. */
typedef struct prepared_batch {
    char **aggregate_ids;
    char **command_jsons;
    long n;
} prepared_batch;

typedef struct bulk {
    es_engine *e;
    const char *tenant_id, *pipeline, *command;
    long n, batch;
    bulk_payload_fn payload;
    void *ud;
    prepared_batch ring[RING];
    long produced, consumed; /* batches; ring slot = count % RING */
    int validator_failed;    /* the validator stopped on an error (diag_text) */
    int writer_stopped;      /* the writer stopped: the validator stops too */
    char diag_text[512];
    diag_code diag;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} bulk;

static long batches_of(const bulk *b)
{
    return (b->n + b->batch - 1) / b->batch;
}

/* Validates every batch in order into the ring, waiting for free slots. */
static void *validator_main(void *ud)
{
    bulk *b = ud;
    char **payloads = calloc((size_t)b->batch, sizeof *payloads);
    char *buf = malloc((size_t)b->batch * PAYLOAD_MAX);
    int ok = payloads && buf;
    for (long k = 0; ok && k < b->batch; k++) payloads[k] = buf + k * PAYLOAD_MAX;
    if (!ok) diag_set(DIAG_INTERNAL, "out of memory");
    for (long k = 0; ok && k < batches_of(b); k++) {
        pthread_mutex_lock(&b->mu);
        while (k - b->consumed >= RING && !b->writer_stopped) pthread_cond_wait(&b->cv, &b->mu);
        ok = !b->writer_stopped;
        pthread_mutex_unlock(&b->mu);
        if (!ok) break;
        long first = k * b->batch;
        long m = b->n - first < b->batch ? b->n - first : b->batch;
        for (long i = 0; i < m; i++) b->payload(b->ud, first + i, payloads[i], PAYLOAD_MAX);
        prepared_batch *slot = &b->ring[k % RING];
        size_t failed;
        ok = engine_prepare_many(b->e, b->tenant_id, b->pipeline, b->command,
                                 (const char *const *)payloads, (size_t)m, &slot->aggregate_ids,
                                 &slot->command_jsons, &failed, NULL) == 0;
        slot->n = m;
        pthread_mutex_lock(&b->mu);
        if (ok) b->produced++;
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
    }
    pthread_mutex_lock(&b->mu);
    if (!ok && !b->writer_stopped) {
        b->validator_failed = 1;
        b->diag = diag_code_get();
        snprintf(b->diag_text, sizeof b->diag_text, "%s", diag_message());
    }
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    free(buf);
    free(payloads);
    return NULL;
}

/* Takes the next validated batch into *out: 1, or 0 when the validator failed. */
static int next_batch(bulk *b, prepared_batch *out)
{
    pthread_mutex_lock(&b->mu);
    while (b->produced == b->consumed && !b->validator_failed) pthread_cond_wait(&b->cv, &b->mu);
    int got = b->produced > b->consumed;
    if (got) *out = b->ring[b->consumed % RING];
    pthread_mutex_unlock(&b->mu);
    return got;
}

/* Frees the slot of the batch just taken, for the validator. */
static void batch_done(bulk *b)
{
    pthread_mutex_lock(&b->mu);
    b->consumed++;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* Enqueues every batch, tx_rows or more per transaction. 0 or -1. */
static int write_batches(bulk *b, long tx_rows)
{
    es_backends *backends = engine_backends(b->e);
    char **job_ids = calloc((size_t)b->batch, sizeof *job_ids);
    if (!job_ids) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return -1;
    }
    long in_tx = 0, sent = 0;
    int rc = 0;
    while (rc == 0 && sent < b->n) {
        prepared_batch p;
        if (!next_batch(b, &p)) {
            diag_set(b->diag, "%s", b->diag_text);
            rc = -1;
            break;
        }
        if (in_tx == 0 && backends_tx_begin(backends) != 0) {
            rc = -1;
            break;
        }
        rc = engine_send_prepared(b->e, b->tenant_id, b->pipeline, b->command, p.aggregate_ids,
                                  p.command_jsons, (size_t)p.n, job_ids);
        batch_done(b);
        for (long i = 0; rc == 0 && i < p.n; i++) free(job_ids[i]);
        in_tx += p.n;
        sent += p.n;
        if (rc == 0 && (in_tx >= tx_rows || sent == b->n)) {
            rc = backends_tx_commit(backends);
            in_tx = 0;
        }
    }
    if (rc != 0 && in_tx > 0) backends_tx_rollback(backends);
    free(job_ids);
    return rc;
}

int bulk_send(es_engine *e, const char *tenant_id, const char *pipeline, const char *command,
              long n, long batch, long tx_rows, bulk_payload_fn payload, void *ud)
{
    bulk b = {.e = e, .tenant_id = tenant_id, .pipeline = pipeline, .command = command,
              .n = n, .batch = batch > 0 ? batch : 1, .payload = payload, .ud = ud};
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    pthread_t validator;
    if (pthread_create(&validator, NULL, validator_main, &b) != 0) {
        diag_set(DIAG_INTERNAL, "cannot start the validator thread");
        return -1;
    }
    int rc = write_batches(&b, tx_rows);
    pthread_mutex_lock(&b.mu);
    b.writer_stopped = 1;
    pthread_cond_broadcast(&b.cv);
    pthread_mutex_unlock(&b.mu);
    pthread_join(validator, NULL);
    /* batches validated but never written */
    for (long k = b.consumed; k < b.produced; k++) {
        prepared_batch *slot = &b.ring[k % RING];
        for (long i = 0; i < slot->n; i++) {
            free(slot->aggregate_ids[i]);
            free(slot->command_jsons[i]);
        }
        free(slot->aggregate_ids);
        free(slot->command_jsons);
    }
    pthread_cond_destroy(&b.cv);
    pthread_mutex_destroy(&b.mu);
    return rc;
}
